import type { promises as fsp } from 'node:fs';
import { SPOOL_HEADER_BYTES as HDR, spoolRecordHeader, spoolRecordMeta } from './spoolRecord';
import { createSegment } from './spoolSegments';
import type { SpoolEntry, SpoolKey } from './spoolTypes';

/** What the spool does around a write; each runs synchronously, at the point named. */
export interface SpoolWriteHooks {
  /** A record is durable at `e`: called before its append resolves. */
  written(e: SpoolEntry, envelope: Buffer): void;
  /** A write failed: called after the appends it did not write were rejected. */
  failed(): void;
  /** After every write, durable or not. */
  settled(): void;
}

/**
 * The spool's segment files and the group-commit writer appending to them: appends queued while
 * a write is in flight go out together in the next one (one writev, one fdatasync). The caller
 * runs writeQueued() and closeActive() one at a time.
 */
export class SpoolWriter {
  /** Live segments: segment -> bytes. */
  readonly segments = new Map<number, number>();
  /** `torn`: a write failed after `size`; its bytes are cut off before the next write. */
  private active?: { n: number; fh: fsp.FileHandle; size: number; torn?: boolean };
  /** Appends taken (seq fixed) and not yet written: the next write takes them all at once. */
  private appendQueue: {
    k: SpoolKey & { seq: number };
    envelope: Buffer;
    resolve: (e: SpoolEntry) => void;
    reject: (e: unknown) => void;
  }[] = [];

  /** The highest segment number a roll tried to create. */
  private lastTried = 0;

  constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly hooks: SpoolWriteHooks,
  ) {}

  /** The segment appends go to, if one is open: its number and durable size. */
  get current(): { readonly n: number; readonly size: number } | undefined {
    return this.active;
  }

  /** Bytes of the live segments. */
  bytes(): number {
    let n = 0;
    for (const v of this.segments.values()) n += v;
    return n;
  }

  /** Queues one record; resolves once a writeQueued() made it durable. */
  enqueue(k: SpoolKey & { seq: number }, envelope: Buffer): Promise<SpoolEntry> {
    return new Promise((resolve, reject) => {
      this.appendQueue.push({ k, envelope, resolve, reject });
    });
  }

  async writeQueued(): Promise<void> {
    const recs = this.appendQueue.splice(0);
    let done = 0;
    try {
      if (this.active?.torn) await this.cutTornTail(this.active);
      while (done < recs.length) {
        const first = recs[done]!;
        const metaOf = (r: (typeof recs)[number]) => spoolRecordMeta(r.k);
        if (
          !this.active ||
          (this.active.size > 0 &&
            this.active.size + HDR + metaOf(first).length + first.envelope.length >
              this.segmentBytes)
        )
          await this.roll();
        const a = this.active!;
        a.torn = true; // until this write is durable
        // As many as fit this segment (at least one), in one writev and one fdatasync.
        const bufs: Buffer[] = [];
        const placed: { r: (typeof recs)[number]; pos: number; metaLen: number }[] = [];
        let size = a.size;
        for (let i = done; i < recs.length; i++) {
          const r = recs[i]!;
          const meta = metaOf(r);
          const recLen = HDR + meta.length + r.envelope.length;
          if (i > done && size + recLen > this.segmentBytes) break;
          bufs.push(spoolRecordHeader(meta, r.envelope), meta, r.envelope);
          placed.push({ r, pos: size, metaLen: meta.length });
          size += recLen;
        }
        await a.fh.writev(bufs, a.size);
        await a.fh.datasync();
        a.size = size;
        a.torn = false;
        this.segments.set(a.n, a.size);
        for (const { r, pos, metaLen } of placed) {
          const e: SpoolEntry = {
            diskId: r.k.diskId,
            generation: r.k.generation,
            seq: r.k.seq,
            segment: a.n,
            pos: pos + HDR + metaLen,
            length: r.envelope.length,
          };
          this.hooks.written(e, r.envelope);
          r.resolve(e);
          done++;
        }
      }
    } catch (e) {
      // Not durable: these seqs (and any queued behind them) were never taken.
      for (const r of [...recs.slice(done), ...this.appendQueue.splice(0)]) r.reject(e);
      this.hooks.failed();
    } finally {
      this.hooks.settled();
    }
  }

  /**
   * A failed write may have left part of its records after the last durable one. A later, shorter
   * write would leave the rest behind it, and once the segment is no longer the last, recovery
   * refuses it as damage in the middle: so nothing is written until those bytes are gone.
   */
  private async cutTornTail(a: NonNullable<SpoolWriter['active']>): Promise<void> {
    await a.fh.truncate(a.size);
    await a.fh.datasync();
    a.torn = false;
  }

  private async roll(): Promise<void> {
    const old = this.active;
    this.active = undefined;
    if (old) await old.fh.close();
    // Never append to a recovered segment: start a fresh one after the highest. A number is
    // tried once: a create that failed after making the file (its directory sync, say) would
    // otherwise fail the same way at every later try.
    const n = Math.max(this.lastTried, ...this.segments.keys()) + 1;
    this.lastTried = n;
    const fh = await createSegment(this.dir, n);
    this.active = { n, fh, size: 0 };
    this.segments.set(n, 0);
  }

  /** The next write starts a new segment (this one can then be collected). */
  async closeActive(): Promise<void> {
    await this.active?.fh.close();
    this.active = undefined;
  }
}
