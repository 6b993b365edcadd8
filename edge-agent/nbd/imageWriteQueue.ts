import type { DiskImage } from './diskImage';
import { overlap } from './imageWrites';
import { REDO_RECORDS, type JournalTail } from '../journal/journalTypes';

/**
 * Writes at least this large go to the image off the event loop (adjacent ones of a socket read
 * in one `pwritev`); smaller ones are written on it, in the turn that journals them, and
 * answered with that socket read's other replies. Handing a write to the thread pool and
 * answering it alone costs more than a small `pwrite` (4 KiB random writes lost a third), while
 * a large one can sleep in the kernel for milliseconds (dirty-page throttling, allocation while
 * writeback runs), stalling every request behind it.
 */
export const ASYNC_WRITE_BYTES = 128 * 1024;

interface Queued {
  offset: number;
  data: Buffer;
  seq: number;
  /** Its journal record. */
  lsn: number;
  /** Set for a write answered when its image write is done; absent: written in this turn. */
  settle?: (e?: unknown) => void;
}

/**
 * A served disk's image writes, after their journal records are appended (rule 1); while the
 * journal holds a record back (behind a payload written O_DIRECT), its image write runs beside
 * it if the journal marks it (`issue`). While the server is
 * corked (one socket read), writes are queued and `flush` writes the journal batch, then the
 * image: small writes there and then (adjacent ones in one `pwritev`), large ones issued to
 * `DiskImage.inflight`. Overlapping writes reach the image in record order: a write that
 * overlaps one in flight goes through the thread pool too, after it.
 *
 * Every record whose image write is not done yet stays among the disk's last REDO_RECORDS
 * records (`redoBound`): after a process crash those are the records re-applied to the image.
 */
export class ImageWriteQueue {
  private queued: Queued[] = [];
  /** Journaled change records of this disk appended by this process. */
  private seq = 0;

  constructor(
    private readonly image: Pick<DiskImage, 'write' | 'writev' | 'inflight'>,
    private readonly journal: JournalTail,
    private readonly diskIndex: number,
  ) {}

  /**
   * Settles when one more record keeps every unfinished image write among this disk's last
   * REDO_RECORDS records; undefined when it does already.
   */
  redoBound(): Promise<void> | undefined {
    const oldest = this.image.inflight.oldestSeq() ?? this.queued[0]?.seq;
    if (oldest === undefined || this.seq + 1 - oldest < REDO_RECORDS) return undefined;
    this.flush();
    return this.image.inflight.oldestSettled();
  }

  /** A change record of this disk that needs no image write here (a zeroing, applied now). */
  counted(): void {
    this.seq++;
  }

  /**
   * The image write of a record just appended: queued while corked, else applied now. Returns
   * a promise when the write is answered once it is done (large, or behind one in flight).
   */
  write(offset: number, data: Buffer, corked: boolean, lsn: number): void | Promise<void> {
    const seq = ++this.seq;
    // Behind a record the journal holds (its payload being written O_DIRECT), this one's
    // record reaches the file later too: so does its image write, and the answer.
    const later =
      data.length >= ASYNC_WRITE_BYTES ||
      this.journal.holding ||
      this.overlapsPending(offset, data.length);
    if (!corked) {
      this.flush();
      if (!later) return this.image.write(offset, data);
      return this.issue(seq, offset, [data], lsn, lsn);
    }
    if (!later) {
      this.push({ offset, data, seq, lsn });
      return;
    }
    return new Promise<void>((resolve, reject) =>
      this.push({ offset, data, seq, lsn, settle: (e) => (e ? reject(e) : resolve()) }),
    );
  }

  private push(q: Queued): void {
    this.queued.push(q);
    if (this.queued.length >= REDO_RECORDS) this.flush();
  }

  /** In flight, or queued to go through the thread pool, and overlapping the range. */
  private overlapsPending(offset: number, length: number): boolean {
    if (this.image.inflight.overlaps(offset, length)) return true;
    return this.queued.some(
      (q) => q.settle && overlap(q.offset, q.offset + q.data.length, offset, length),
    );
  }

  /** The journal batch first, then the queued image writes, in order. */
  flush(): void {
    const q = this.queued;
    this.queued = [];
    try {
      // Always: a FUA write or a zeroing applied while corked has its record in the batch too.
      this.journal.flushBatch();
    } catch (e) {
      for (const x of q) x.settle?.(e);
      throw e;
    }
    try {
      this.writeOut(q);
    } catch (e) {
      // A failed image write fails the socket read's writes (the connection drops): the ones
      // answered later must not wait forever either.
      for (const x of q) x.settle?.(e);
      throw e;
    }
  }

  private writeOut(q: Queued[]): void {
    for (let i = 0; i < q.length;) {
      // Adjacent writes of the same kind (sequential streams) go out in one pwritev.
      let j = i + 1;
      let end = q[i]!.offset + q[i]!.data.length;
      const later = !!q[i]!.settle;
      while (j < q.length && q[j]!.offset === end && !!q[j]!.settle === later && j - i < 1024) {
        end += q[j]!.data.length;
        j++;
      }
      const run = q.slice(i, j);
      const bufs = run.map((x) => x.data);
      const written = this.journal.whenWritten(run[run.length - 1]!.lsn);
      if (!later && !written) {
        if (run.length === 1) this.image.write(run[0]!.offset, bufs[0]!);
        else this.image.writev(run[0]!.offset, bufs);
      } else {
        // (An answered write never waits for the journal here: it is answered in the turn only
        // when nothing was held, and a held payload first writes out the batch before it.)
        const lsns = [run[0]!.lsn, run[run.length - 1]!.lsn] as const;
        this.issue(run[0]!.seq, run[0]!.offset, bufs, ...lsns).then(
          () => run.forEach((x) => x.settle?.()),
          (e: unknown) => run.forEach((x) => x.settle?.(e)),
        );
      }
      i = j;
    }
  }

  /**
   * Issues an image write to the thread pool; it settles once the write is done and its
   * records (`firstLsn`…`lastLsn`) are in the journal's file. While they are not, the write
   * goes ahead of them if the journal marks it (a crash that loses the records then resyncs
   * the range from the image), else after them (rule 1).
   */
  private issue(
    seq: number,
    offset: number,
    bufs: Buffer[],
    firstLsn: number,
    lastLsn: number,
  ): Promise<void> {
    const written = this.journal.whenWritten(lastLsn);
    if (!written) return this.pinned(bufs, this.image.inflight.issue(seq, offset, bufs));
    const length = bufs.reduce((n, b) => n + b.length, 0);
    const mark = { diskIndex: this.diskIndex, lsn: firstLsn, offset, length };
    if (!this.journal.ahead(mark))
      return this.pinned(bufs, this.image.inflight.issue(seq, offset, bufs, written));
    const image = this.pinned(bufs, this.image.inflight.issue(seq, offset, bufs));
    return Promise.all([image, written]).then(() => {});
  }

  /** The payloads stay held (their memory is not reused) until the write is over. */
  private pinned(bufs: Buffer[], write: Promise<void>): Promise<void> {
    const releases = bufs.map((b) => this.journal.pins.pin(b));
    const release = () => releases.forEach((r) => r());
    write.then(release, release);
    return write;
  }

  /** Queue flushed; settles once every image write so far is done. */
  settled(): Promise<void> {
    this.flush();
    return this.image.inflight.settled();
  }

  /** Queue flushed; a promise while an image write in flight overlaps the range. */
  settleRange(offset: number, length: number): Promise<void> | undefined {
    this.flush();
    return this.image.inflight.overlapping(offset, length);
  }
}
