import type { DirtyBitmap } from '../journal/dirtyBitmap';
import { INTENT_REGION } from '../journal/journalTypes';

/** A region's intent mark outlives its last write by this much (see afterFlush). */
export const INTENT_LINGER_MS = 1000;
/** A write this close to the end of a region marks the next one too (see guard). */
const MARK_AHEAD_BYTES = INTENT_REGION / 4;

/**
 * A disk's intent log (rule 4 of docs/nbd.md): which INTENT_REGION-sized regions may hold image
 * writes the journal lacks after a host crash. The splitter runs every change through guard()
 * and tells it when a FLUSH completes.
 */
export class IntentLog {
  private readonly pending = new Map<number, Promise<void>>();
  private readonly inflight = new Map<number, number>();
  private readonly lastWrite = new Map<number, number>();
  /** When each marked region was last written (ms, monotonic): recently written ones stay marked. */
  private readonly lastWriteAt = new Map<number, number>();
  private seq = 0;

  constructor(
    private readonly bitmap: DirtyBitmap,
    private readonly diskSize: number,
    private readonly lingerMs: number,
  ) {}

  /** The last guarded change's sequence number: a FLUSH notes it when it starts. */
  get lastSeq(): number {
    return this.seq;
  }

  /**
   * The intent log: before the image is changed in a region (INTENT_REGION bytes) for the first
   * time since that region's last FLUSH, the region is marked durably. After a host crash only
   * these regions can hold image writes the journal lacks, so only they are resynced. The first
   * write to a clean region waits for one fdatasync (group-committed); later ones run at once.
   * A write in the last quarter of a region marks the next one as well, without waiting for it:
   * a sequential stream then finds it durable when it gets there instead of stalling once per
   * region (a wider mark only widens the resync after a host crash).
   */
  guard(offset: number, length: number, apply: () => void | Promise<void>): void | Promise<void> {
    const first = Math.floor(offset / INTENT_REGION);
    const last = Math.floor((offset + length - 1) / INTENT_REGION);
    const seq = ++this.seq;
    const now = performance.now();
    const waits: Promise<void>[] = [];
    for (let r = first; r <= last; r++) {
      this.lastWrite.set(r, seq);
      this.lastWriteAt.set(r, now);
      this.inflight.set(r, (this.inflight.get(r) ?? 0) + 1);
      this.markRegion(r);
      const p = this.pending.get(r);
      if (p) waits.push(p);
    }
    const next = last + 1;
    const nextStart = next * INTENT_REGION;
    if (offset + length > nextStart - MARK_AHEAD_BYTES && nextStart < this.diskSize) {
      if (!this.bitmap.isSet(next)) {
        // Kept through the linger as if written (a FLUSH now would clear it again at once).
        this.lastWrite.set(next, seq);
        this.lastWriteAt.set(next, now);
        this.markRegion(next);
      }
    }
    const done = () => {
      for (let r = first; r <= last; r++) this.inflight.set(r, (this.inflight.get(r) ?? 1) - 1);
    };
    if (waits.length === 0) {
      try {
        return apply();
      } finally {
        done();
      }
    }
    return Promise.all(waits)
      .then(() => apply())
      .finally(done);
  }

  /** Marks a clean region and persists the mark (group-committed); writes there wait for it. */
  private markRegion(r: number): void {
    if (this.bitmap.isSet(r)) return;
    this.bitmap.mark(r * INTENT_REGION, Math.min(INTENT_REGION, this.diskSize - r * INTENT_REGION));
    const p = this.bitmap.persist();
    this.pending.set(r, p);
    void p.then(
      () => {
        if (this.pending.get(r) === p) this.pending.delete(r);
      },
      () => undefined,
    );
  }

  /**
   * After a FLUSH: regions with no write since it started are consistent and may be forgotten.
   * Only those idle for `lingerMs` are: a region written between every pair of FLUSHes
   * (fio's fsync every 64, a database's log) would otherwise be cleared and marked again each
   * time, two more fdatasyncs in series with the next write. Keeping a mark longer is always
   * safe (it only widens the resync after a host crash).
   */
  afterFlush(flushStartSeq: number): void {
    let changed = false;
    const idleSince = performance.now() - this.lingerMs;
    for (const r of this.bitmap.setBlocks()) {
      if ((this.lastWrite.get(r) ?? 0) > flushStartSeq) continue;
      if ((this.lastWriteAt.get(r) ?? 0) >= idleSince && this.lingerMs > 0) continue;
      if ((this.inflight.get(r) ?? 0) > 0 || this.pending.has(r)) continue;
      this.bitmap.clear(r);
      this.lastWrite.delete(r);
      this.lastWriteAt.delete(r);
      changed = true;
    }
    // Lazily: a region still marked on disk only costs a rescan after a host crash.
    if (changed) void this.bitmap.persist().catch(() => undefined);
  }
}
