import type { MemoryRecord } from './journalTypes';

/** Payload bytes kept for the drain at most; older records are read back from the file. */
const BUDGET_BYTES = 64 * 1024 * 1024;

/**
 * Records journaled O_DIRECT whose payload is still in the writer's shared memory, until the
 * drain takes them with its next snapshot. Bounded: when no drain keeps up (or none runs), the
 * oldest go first and are read from the file instead (each pins its 16 MiB slab).
 */
export class MemoryRecords {
  private records: MemoryRecord[] = [];
  private bytes = 0;

  push(m: MemoryRecord): void {
    this.records.push(m);
    this.bytes += m.payloadLen;
    while (this.bytes > BUDGET_BYTES) this.bytes -= this.records.shift()!.payloadLen;
  }

  /** The records up to `lsn` (those in the file), oldest first; they are the caller's now. */
  take(lsn: number): MemoryRecord[] {
    let n = 0;
    while (n < this.records.length && this.records[n]!.lsn <= lsn) n++;
    const out = this.records.splice(0, n);
    for (const m of out) this.bytes -= m.payloadLen;
    return out;
  }
}
