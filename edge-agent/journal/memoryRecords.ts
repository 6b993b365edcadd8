import type { MemoryRecord } from './journalTypes';

/** Payload bytes kept for the drain at most; older records are read back from the file. */
const BUDGET_BYTES = 64 * 1024 * 1024;

/** A record kept in memory, and the release of its hold on the payload (see AlignedSlabs). */
export interface HeldRecord {
  record: MemoryRecord;
  release: () => void;
}

/**
 * Records journaled O_DIRECT whose payload is still in the writer's shared memory, until the
 * drain takes them with its next snapshot. Bounded: when no drain keeps up (or none runs), the
 * oldest go first (their holds released) and are read from the file instead.
 */
export class MemoryRecords {
  private records: HeldRecord[] = [];
  private bytes = 0;

  push(h: HeldRecord): void {
    this.records.push(h);
    this.bytes += h.record.payloadLen;
    while (this.bytes > BUDGET_BYTES) {
      const old = this.records.shift()!;
      this.bytes -= old.record.payloadLen;
      old.release();
    }
  }

  /**
   * The records up to `lsn` (those in the file), oldest first; they and their holds are now the
   * caller's.
   */
  take(lsn: number): HeldRecord[] {
    let n = 0;
    while (n < this.records.length && this.records[n]!.record.lsn <= lsn) n++;
    const out = this.records.splice(0, n);
    for (const h of out) this.bytes -= h.record.payloadLen;
    return out;
  }
}
