import { writev } from 'node:fs';

interface InFlight {
  readonly offset: number;
  readonly end: number;
  /** The splitter's sequence number of the oldest journal record this write applies. */
  readonly seq: number;
  /** Settles when the write is done, failed or not (the promise `issue` returned rejects). */
  readonly settled: Promise<void>;
}

/**
 * A served disk's image writes, issued off the event loop (libuv's thread pool), as qemu-nbd's
 * thread pool does: a buffered `pwrite` can sleep in the kernel (dirty-page throttling, the
 * filesystem's allocation while writeback runs), and on the event loop that stalled every
 * request behind it; here the next requests are read and journaled meanwhile.
 *
 * Journal order is kept where it matters: a write is issued only once every in-flight write it
 * overlaps is done, so overlapping changes reach the image in the order of their records.
 * Non-overlapping writes run side by side (their order cannot be observed).
 */
export class ImageWrites {
  /** In issue order, so the first is the oldest. */
  private readonly inflight = new Set<InFlight>();

  constructor(
    /** One positioned write of adjacent buffers (`pwritev` in the thread pool). */
    private readonly write: (offset: number, bufs: Buffer[], length: number) => Promise<void>,
    /** Called as each write completes (or fails): the image's sync counts it as written. */
    private readonly onDone: () => void = () => undefined,
  ) {}

  /** The sequence number of the oldest write not done yet. */
  oldestSeq(): number | undefined {
    for (const w of this.inflight) return w.seq;
    return undefined;
  }

  /** Settles when the oldest write not done yet is. */
  oldestSettled(): Promise<void> | undefined {
    for (const w of this.inflight) return w.settled;
    return undefined;
  }

  /**
   * Writes `bufs` (adjacent) at `offset` once the in-flight writes it overlaps are done (and
   * `after` has settled); the promise rejects if the write fails, or `after` rejects.
   */
  issue(seq: number, offset: number, bufs: Buffer[], after?: Promise<void>): Promise<void> {
    const length = bufs.reduce((n, b) => n + b.length, 0);
    const overlapped = this.overlapping(offset, length);
    // `after`: the journal has the records in its file (rule 1) once it settles.
    const before = overlapped && after ? Promise.all([overlapped, after]) : (overlapped ?? after);
    const run = (): Promise<void> => this.write(offset, bufs, length);
    const done = before ? before.then(run) : run();
    const finish = (): void => {
      this.inflight.delete(w);
      this.onDone();
    };
    const w: InFlight = { offset, end: offset + length, seq, settled: done.then(finish, finish) };
    this.inflight.add(w);
    return done;
  }

  /** True while an in-flight write overlaps the range. */
  overlaps(offset: number, length: number): boolean {
    for (const w of this.inflight) if (overlap(w.offset, w.end, offset, length)) return true;
    return false;
  }

  /** Settles once every in-flight write overlapping the range is done; undefined if none. */
  overlapping(offset: number, length: number): Promise<void> | undefined {
    const waits: Promise<void>[] = [];
    for (const w of this.inflight)
      if (overlap(w.offset, w.end, offset, length)) waits.push(w.settled);
    if (!waits.length) return undefined;
    return Promise.all(waits).then(() => undefined);
  }

  /** Settles once every write issued so far is done (failed ones included). */
  settled(): Promise<void> {
    return Promise.all([...this.inflight].map((w) => w.settled)).then(() => undefined);
  }
}

/** [start, end) and [offset, offset + length) share a byte. */
export function overlap(start: number, end: number, offset: number, length: number): boolean {
  return start < offset + length && offset < end;
}

/** One positioned `pwritev` in the thread pool, continued after a short write. */
export function writevAll(
  fd: number,
  offset: number,
  bufs: Buffer[],
  length: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (pieces: Buffer[], pos: number, left: number): void => {
      writev(fd, pieces, pos, (err, n) => {
        if (err) return reject(err);
        if (n >= left) return resolve();
        if (n === 0) return reject(new Error(`short write at ${pos}: 0 of ${left} bytes`));
        step([Buffer.concat(pieces).subarray(n)], pos + n, left - n);
      });
    };
    step(bufs, offset, length);
  });
}
