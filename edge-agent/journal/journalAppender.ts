import { decodeHeader, encodeHeader, FLAG_PAYLOAD_FILE, RecordType } from './records';
import type { MemoryRecord } from './journalTypes';
import type { SegmentLog } from './segmentLog';

/**
 * The write side of the machine journal: assigns LSNs (one sequence, appended from one thread),
 * batches change records while corked, and wakes the readers that asked to hear of appends.
 */
export class JournalAppender {
  /** Next LSN to assign. */
  private nextLsn: number;
  /**
   * Change records appended while corked (one socket read's worth of WRITEs) are written with
   * one writev at uncork instead of one write(2) each. The caller (the splitter) writes the
   * disk only after flushBatch(), so "journal first, disk second" holds for the whole batch.
   * Every other append, sync, rotation and close flushes the batch first.
   */
  private corked = 0;
  private listeners: Array<() => void> = [];

  constructor(
    private readonly segs: SegmentLog,
    nextLsn: number,
  ) {
    this.nextLsn = nextLsn;
  }

  /** LSN of the last appended record. */
  get lastLsn(): number {
    return this.nextLsn - 1;
  }

  append(
    type: RecordType,
    diskIndex: number,
    offset: number,
    length: number,
    payload?: Buffer,
    batched = false,
  ): number {
    const lsn = this.nextLsn++;
    const h = encodeHeader(
      { type, flags: 0, diskIndex, lsn, offset, length, payloadLen: payload?.length ?? 0 },
      payload,
    );
    this.segs.append(lsn, h, payload, batched);
    return lsn;
  }

  /** Appends a change record: batched while corked. */
  appendChange(
    type: RecordType,
    diskIndex: number,
    offset: number,
    length: number,
    payload?: Buffer,
  ): number {
    return this.append(type, diskIndex, offset, length, payload, this.corked > 0);
  }

  /**
   * Appends a write whose payload is journaled O_DIRECT (SegmentLog.appendDirect); returns the
   * record as a reader would find it, its data the payload in memory.
   */
  appendDirect(diskIndex: number, offset: number, payload: Buffer): MemoryRecord {
    const lsn = this.nextLsn++;
    const h = encodeHeader(
      {
        type: RecordType.Write,
        flags: FLAG_PAYLOAD_FILE,
        diskIndex,
        lsn,
        offset,
        length: payload.length,
        payloadLen: 0,
      },
      payload,
    );
    const at = this.segs.appendDirect(lsn, h, payload);
    return { ...decodeHeader(h)!, payloadLen: payload.length, ...at, data: payload };
  }

  cork(): void {
    this.corked++;
  }

  uncork(): void {
    if (this.corked > 0) this.corked--;
    if (this.corked === 0) this.flushBatch();
  }

  /** Forgets every cork without flushing (close syncs, which flushes the batch). */
  dropCorks(): void {
    this.corked = 0;
  }

  /** Writes the batched records (if any). */
  flushBatch(): void {
    this.segs.flushBatch();
  }

  /** Called on every append (readers wake up). */
  onAppend(f: () => void): () => void {
    this.listeners.push(f);
    return () => {
      this.listeners = this.listeners.filter((g) => g !== f);
    };
  }

  notify(): void {
    for (const f of this.listeners) f();
  }
}
