import type { SpoolEntry } from './spoolTypes';

/**
 * The envelopes just appended to the spool, so the sender sends them without reading each back
 * into a fresh buffer (a read, page faults, and external memory that drives V8's collections):
 * the bytes are the ones written, and the file stays the copy that survives a crash.
 */
export class HotEnvelopes {
  private readonly kept = new Map<SpoolEntry, Buffer>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Keeps it if it fits under the bound (else it is read from the file when sent). */
  keep(e: SpoolEntry, envelope: Buffer): void {
    if (this.bytes + e.length > this.maxBytes) return;
    this.kept.set(e, envelope);
    this.bytes += e.length;
  }

  get(e: SpoolEntry): Buffer | undefined {
    return this.kept.get(e);
  }

  /** Forgets the ones `acked` says are acknowledged: they are never read again. */
  drop(acked: (e: SpoolEntry) => boolean): void {
    for (const [e, b] of this.kept) {
      if (!acked(e)) continue;
      this.kept.delete(e);
      this.bytes -= b.length;
    }
  }
}
