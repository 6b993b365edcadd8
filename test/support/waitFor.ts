type Truthy<T> = Exclude<T, false | undefined | null | 0 | ''>;

export interface WaitOptions {
  /** Give up after this long (default 60 s): the error names what was awaited. */
  timeoutMs?: number;
  /** Between two checks (default 50 ms). */
  intervalMs?: number;
  /** Stop checking (the wait rejects) once this aborts: the caller no longer needs it. */
  signal?: AbortSignal;
}

/**
 * Checks `check` until it returns something truthy and returns that; throws "`what`: not after
 * N ms (last: …)" at the deadline. For state that announces nothing (a document, a blob, a file);
 * where an event or output line exists, wait for that instead (Child.waitForOutput, once()).
 * No timing is asserted: the deadline only turns a hang into a clear failure.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  opts: WaitOptions = {},
): Promise<Truthy<T>> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 50;
  const until = Date.now() + timeoutMs;
  for (;;) {
    opts.signal?.throwIfAborted();
    const v = await check();
    if (v) return v as Truthy<T>;
    if (Date.now() >= until)
      throw new Error(`${what}: not after ${timeoutMs} ms (last: ${describe(v)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `p`, or an error naming `what` after `timeoutMs`. */
export async function withDeadline<T>(what: string, p: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(v: unknown): string {
  try {
    return JSON.stringify(v)?.slice(0, 200) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * The first of several waits to settle (resolve or reject); the others are then told to stop
 * through their signal (waitFor and Child.waitForOutput take one), and their rejections ignored.
 */
export async function firstOf<T>(...waits: Array<(signal: AbortSignal) => Promise<T>>): Promise<T> {
  const ac = new AbortController();
  const all = waits.map((w) => w(ac.signal));
  for (const p of all) p.catch(() => undefined);
  try {
    return await Promise.race(all);
  } finally {
    ac.abort();
  }
}
