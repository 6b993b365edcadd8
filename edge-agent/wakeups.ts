/**
 * Callers waiting for "something changed" (an append, a collection, the spool drained), all
 * woken at once; a wait also ends when its abort signal fires.
 */
export class Wakeups {
  private waiters: (() => void)[] = [];

  /** Resolves on the next `wakeAll`, or when `signal` aborts. */
  next(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      // The listener goes with the wait: a long-lived signal would otherwise collect one per wait.
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  wakeAll(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
