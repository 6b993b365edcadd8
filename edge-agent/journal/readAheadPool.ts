import { READ_AHEAD } from './journalReader';

/**
 * Read-ahead buffers for a JournalReader, reused once nothing refers to the records read from
 * them. A fresh 4 MiB buffer per refill costs a page fault per 4 KiB and drives V8's
 * collections by external memory: measured at 50 MB/s, two thirds of the agent's page faults
 * came from the drain's reads.
 */
export class ReadAheadPool {
  /** In refill order; `upTo`: the highest LSN whose bytes may lie in it (the last: still filling). */
  private readonly inUse: Array<{ buf: Buffer; upTo: number }> = [];
  private readonly spares: Buffer[] = [];
  /** Buffers allocated (not reused) so far. */
  allocated = 0;

  constructor(private readonly maxSpares = 4) {}

  /**
   * A buffer of at least `size` bytes for the refill the reader makes while at record
   * `readingLsn`: the buffer it leaves holds bytes of that record at the most.
   */
  take(size: number, readingLsn: number): Buffer {
    const last = this.inUse[this.inUse.length - 1];
    if (last) last.upTo = readingLsn;
    const buf =
      size <= READ_AHEAD && this.spares.length
        ? this.spares.pop()!
        : (this.allocated++, Buffer.allocUnsafe(Math.max(size, READ_AHEAD)));
    this.inUse.push({ buf, upTo: Number.MAX_SAFE_INTEGER });
    return buf;
  }

  /** Nothing refers to the bytes of records up to `lsn` any more: their buffers may be refilled. */
  release(lsn: number): void {
    while (this.inUse.length > 1 && this.inUse[0]!.upTo <= lsn) {
      const { buf } = this.inUse.shift()!;
      if (buf.length === READ_AHEAD && this.spares.length < this.maxSpares) this.spares.push(buf);
    }
  }
}
