import type { BackendHost } from './backendOptions';

/**
 * The backend's in-flight work: stop waits for it, failures are logged (and retried where the
 * caller asks), and `whenIdle` resolves once nothing runs or waits in a queue.
 */
export class WorkTracker {
  stopped = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly idleWaiters: (() => void)[] = [];

  /** `queued` tells whether work waits in or runs from a queue outside this tracker. */
  constructor(
    private readonly log: BackendHost['log'],
    private readonly queued: () => boolean,
  ) {}

  track<T>(p: Promise<T>): void {
    this.inFlight.add(p);
    p.catch((e: unknown) => this.log.error(`durable: ${(e as Error)?.stack ?? String(e)}`)).finally(
      () => {
        this.inFlight.delete(p);
        this.checkIdle();
      },
    );
  }

  /** Tracks `work`; if it fails, `retry` runs a little later (the failure is still logged). */
  runWithRetry(work: Promise<void>, retry: () => void, settled?: () => void): void {
    const run = work.catch((e: unknown) => {
      this.later(retry);
      throw e;
    });
    this.track(settled ? run.finally(settled) : run);
  }

  later(fn: () => void, ms = 1000): void {
    if (this.stopped) return;
    const t = setTimeout(fn, ms);
    t.unref?.();
  }

  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  /** Resolves when no orchestration, activity or delivery is running or queued (timers may be pending). */
  whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
  }

  private checkIdle(): void {
    if (this.queued() || this.inFlight.size) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
