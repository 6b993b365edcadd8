/** `fn` over `items` with at most `limit` running; results in input order. */
export function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  return Promise.all(startLimited(items, limit, fn).map((t) => t.promise));
}

/** A promise that says whether it has settled (so the caller can tell "ready" without waiting). */
export interface Tracked<T> {
  promise: Promise<T>;
  settled: boolean;
}

/** Starts `fn` over `items`, at most `limit` at once, in order; one tracked promise per item. */
export function startLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Tracked<R>[] {
  let running = 0;
  const queue: (() => void)[] = [];
  return items.map((item) => {
    const t = { settled: false } as Tracked<R>;
    t.promise = new Promise<R>((resolve, reject) => {
      const run = () => {
        running++;
        const done = () => {
          t.settled = true;
          running--;
          queue.shift()?.();
        };
        fn(item).then(
          (v) => (done(), resolve(v)),
          (e: unknown) => (done(), reject(e as Error)),
        );
      };
      if (running < limit) run();
      else queue.push(run);
    });
    t.promise.catch(() => undefined); // surfaced where it is awaited, in order
    return t;
  });
}
