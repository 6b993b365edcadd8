import { MAX_BATCH_BYTES, type BatchBookmark, type ExtentInput } from '../core/batch';
import type { AgentDisk, ChangeRecord, ChangeSource } from './changeSource';
import { inlineEncoder, type BatchEncoder } from './encodePool';
import { SealQueue } from './sealQueue';
import type { Spool } from './spool';

/** Extents per batch the agent writes (the format allows more; this keeps headers small). */
const MAX_EXTENTS = 1024;
/** A batch never takes more than this share of the spool (a small spool must still fit one). */
const SPOOL_SHARE = 8;
/** Bookmark ids remembered with the disks they were spooled for (see cutOn()). */
const RECENT_CUTS = 64;
/** Batches as large as the format allows cost the fewest requests; never below this though. */
const MIN_BATCH_BYTES = 4 * 1024 * 1024;

interface Open {
  extents: ExtentInput[];
  /** Of the records whose last piece is in this batch: called once it is sealed or dropped. */
  releases: (() => void)[];
  firstPos: number;
  lastPos: number;
  dataBytes: number;
  end: number;
}

export interface BatcherStats {
  batches: number;
  plainBytes: number;
  envelopeBytes: number;
  droppedBatches: number;
}

/**
 * Turns change records into sealed batches in the spool. Per disk: extents accumulate in
 * offset order up to MAX_BATCH_BYTES of data (less with a small spool); a record that goes backwards or overlaps
 * starts the next batch (the order of writes is the order of seqs). A batch gets its seq
 * only when it is spooled. If the spool is full the batch is not taken: its ranges go
 * back to the source as dirty and the next bookmark waits until they were produced again.
 */
export class Batcher {
  private open = new Map<string, Open>();
  private lastPos = 0;
  private droppedSinceBookmark = false;
  /** Spooled batches not yet covered by a source checkpoint, in append order. */
  private spooled: { key: string; seq: number; maxPos: number }[] = [];
  private committedSoFar = 0;
  private readonly sealing: SealQueue;
  private readonly recentCuts = new Map<string, Set<string>>();
  private cutsKept = RECENT_CUTS;
  readonly stats: BatcherStats = { batches: 0, plainBytes: 0, envelopeBytes: 0, droppedBatches: 0 };
  /** Data bytes per batch: the format's limit, or less when the spool is small. */
  private readonly maxBatchBytes: number;

  constructor(
    private readonly spool: Spool,
    private readonly source: ChangeSource,
    private readonly disks: ReadonlyMap<string, AgentDisk>,
    private ident: { machineId: string; keyId: string; key: Buffer },
    /** Frees acknowledged space (the agent checkpoints the source so the spool can collect). */
    private readonly makeRoom?: () => Promise<void>,
    private readonly encoder: BatchEncoder = inlineEncoder,
  ) {
    const share = Math.floor(spool.options.maxBytes / SPOOL_SHARE / 512) * 512;
    this.maxBatchBytes = Math.min(MAX_BATCH_BYTES, Math.max(MIN_BATCH_BYTES, share));
    this.sealing = new SealQueue(spool);
  }

  /** Handles one record; resolves a bookmark's spooled id or undefined. */
  async add(rec: ChangeRecord): Promise<{ bookmark?: string; dropped?: boolean }> {
    if (rec.kind === 'idle') {
      await this.flushAll();
      this.lastPos = rec.pos;
      this.commit();
      return {};
    }
    if (rec.kind === 'bookmark') {
      // The cut must not lose what precedes it: wait for room instead of dropping.
      await this.flushAll(true);
      this.lastPos = rec.pos;
      if (this.droppedSinceBookmark) {
        // Some change before this cut was not taken: the cut would lie. Ask again.
        this.droppedSinceBookmark = false;
        void this.source.requestBookmark({
          id: rec.id,
          consistency: rec.consistency,
          groupId: rec.groupId,
        });
        this.commit();
        return { dropped: true };
      }
      const bookmark: BatchBookmark = {
        id: rec.id,
        consistency: rec.consistency,
        ...(rec.groupId ? { groupId: rec.groupId } : {}),
        ...(rec.barrier ? { barrier: true } : {}),
        createdAt: rec.createdAt,
      };
      const cutOn = this.cutOn(rec.id);
      for (const d of this.disks.values()) {
        // Spooled by a loop that failed after it: the rewound source hands the bookmark again, and
        // a second envelope would be one cut at two seqs (ingest refuses that).
        if (cutOn.has(`${d.id}/${d.generation}`)) continue;
        const seq = this.spool.nextSeq({ diskId: d.id, generation: d.generation });
        const env = await this.encoder.encode(this.header(d, seq, bookmark), [], this.ident.key);
        // Bookmarks are a few hundred bytes: they are always taken, even over the bound.
        await this.spool.append({ diskId: d.id, generation: d.generation, seq }, env);
        this.spooled.push({ key: `${d.id}/${d.generation}`, seq, maxPos: rec.pos });
        cutOn.add(`${d.id}/${d.generation}`);
        this.stats.batches++;
        this.stats.envelopeBytes += env.length;
      }
      this.commit();
      return { bookmark: rec.id };
    }
    const disk = this.disks.get(rec.diskId);
    if (!disk) return {};
    // Split oversized writes so a batch never exceeds maxBatchBytes of data.
    const pieces: ExtentInput[] = [];
    if (rec.data) {
      for (let o = 0; o < rec.data.length; o += this.maxBatchBytes) {
        pieces.push({
          kind: 'data',
          offset: rec.offset + o,
          data: rec.data.subarray(o, o + this.maxBatchBytes),
        });
      }
    } else {
      pieces.push({ kind: 'zero', offset: rec.offset, length: rec.length });
    }
    for (const p of pieces) {
      let o = this.open.get(disk.id);
      const len = p.kind === 'data' ? p.data.length : p.length;
      const dataLen = p.kind === 'data' ? len : 0;
      if (
        o &&
        (p.offset < o.end ||
          o.dataBytes + dataLen > this.maxBatchBytes ||
          o.extents.length >= MAX_EXTENTS)
      ) {
        await this.flush(disk);
        o = undefined;
      }
      if (!o) {
        o = {
          extents: [],
          releases: [],
          firstPos: rec.pos,
          lastPos: rec.pos,
          dataBytes: 0,
          end: 0,
        };
        this.open.set(disk.id, o);
      }
      o.extents.push(p);
      o.lastPos = rec.pos;
      o.dataBytes += dataLen;
      o.end = p.offset + len;
    }
    // Batches are sealed in the order they were opened: the one with the last piece goes last.
    if (rec.release) this.open.get(disk.id)!.releases.push(rec.release);
    this.lastPos = rec.pos;
    this.commit();
    return {};
  }

  /**
   * Bookmarks the spool holds from before a restart, after the source's last checkpoint: the
   * source may hand them out again, and they must not be spooled twice.
   */
  spooledBefore(cuts: readonly { id: string; diskId: string; generation: number }[]): void {
    this.cutsKept = RECENT_CUTS + cuts.length; // all of them: the oldest come again first
    for (const c of cuts) this.cutOn(c.id).add(`${c.diskId}/${c.generation}`);
  }

  /** The disks (id/generation) a recent bookmark was spooled for. */
  private cutOn(id: string): Set<string> {
    let on = this.recentCuts.get(id);
    if (!on) {
      on = new Set();
      this.recentCuts.set(id, on);
      // A bookmark comes again only right after a failed loop: the last few are enough.
      if (this.recentCuts.size > this.cutsKept)
        this.recentCuts.delete(this.recentCuts.keys().next().value!);
    }
    return on;
  }

  /** Highest position such that every record up to it is spooled (or handed back). */
  private committedPos(): number {
    let min = this.lastPos;
    for (const o of this.open.values()) min = Math.min(min, o.firstPos - 1);
    min = Math.min(min, this.sealing.firstUnsettledPos() - 1);
    return min;
  }

  async flushAll(waitForRoom = false): Promise<void> {
    for (const d of this.disks.values()) await this.flush(d, waitForRoom);
    await this.sealing.settle();
    this.commit();
  }

  private commit(): void {
    const p = this.committedPos();
    if (p > this.committedSoFar) this.committedSoFar = p;
    this.source.committed(p);
  }

  /** Seals the batches built from now on with another data key (a rotation). */
  useKey(keyId: string, key: Buffer): void {
    this.ident = { ...this.ident, keyId, key };
  }

  /**
   * Per disk+generation, the highest seq whose records the source has been told are
   * committed: what the source's next checkpoint covers, so the spool may drop up to it.
   * Front-of-queue only: conservative when disks interleave, never too generous.
   */
  async coverage(): Promise<Record<string, number>> {
    await this.sealing.settle();
    this.commit();
    const cov: Record<string, number> = {};
    while (this.spooled.length && this.spooled[0]!.maxPos <= this.committedSoFar) {
      const b = this.spooled.shift()!;
      cov[b.key] = Math.max(cov[b.key] ?? 0, b.seq);
    }
    return cov;
  }

  /**
   * After a failed loop, before the source rewinds: waits for what is in flight, then forgets
   * every batch the spool did not take and the open ones. Their records were never committed
   * (a failed batch pins the committed position), so the rewound source hands them again and
   * they get the seqs the spool expects next. Without this, a failed append stays in flight:
   * the committed position never moves and every later batch is numbered after a seq the
   * spool never took, so the loop fails again until the process restarts.
   */
  async reset(): Promise<void> {
    await this.sealing.reset();
    for (const o of this.open.values()) for (const r of o.releases) r();
    this.open.clear();
    const taken = this.spool.lastSeqs();
    this.spooled = this.spooled.filter((b) => b.seq <= (taken[b.key] ?? 0));
    // Positions only grow: what the rewound source hands out comes after this.
    this.lastPos = this.committedSoFar;
  }

  private header(d: AgentDisk, seq: number, bookmark?: BatchBookmark) {
    return {
      machineId: this.ident.machineId,
      diskId: d.id,
      generation: d.generation,
      seq,
      diskSize: d.sizeBytes,
      keyId: this.ident.keyId,
      ...(bookmark ? { bookmark } : {}),
    };
  }

  private async flush(d: AgentDisk, waitForRoom = false): Promise<void> {
    const o = this.open.get(d.id);
    if (!o) return;
    if (waitForRoom) {
      // Before a cut nothing may be dropped: wait while the sender drains (the batch stays
      // open, so a checkpoint meanwhile cannot count it as taken). The bound still holds.
      await this.sealing.settle();
      const need = o.dataBytes + 256 * 1024;
      while (!this.spool.hasRoom(need)) {
        if (this.spool.pending().length > 0) await this.spool.changed();
        else {
          await this.makeRoom?.();
          if (!this.spool.hasRoom(need)) break;
        }
      }
    }
    this.open.delete(d.id);
    // Batches of this disk still being sealed took the seqs before this one: numbering stays dense.
    const seq = this.sealing.nextSeq({ diskId: d.id, generation: d.generation });
    // The envelope is at most the data plus its header (compression is used only when it pays).
    const bound = o.dataBytes + 256 * o.extents.length + 4096;
    if (!this.spool.hasRoom(bound + this.sealing.queuedBytes())) {
      for (const e of o.extents)
        this.source.invalidate(d.id, e.offset, e.kind === 'data' ? e.data.length : e.length);
      this.droppedSinceBookmark = true;
      this.stats.droppedBatches++;
      for (const r of o.releases) r();
      return;
    }
    const sealed = this.encoder.encode(this.header(d, seq), o.extents, this.ident.key);
    // The encoder has read (or copied) the extents' bytes by now: their memory may be reused.
    for (const r of o.releases) r();
    this.spooled.push({ key: `${d.id}/${d.generation}`, seq, maxPos: o.lastPos });
    this.stats.batches++;
    this.stats.plainBytes += o.dataBytes;
    // Sealed on the encoder's workers while the next batch accumulates; waits only for room.
    const k = { diskId: d.id, generation: d.generation, seq };
    await this.sealing.push(k, sealed, o.firstPos, bound, (env) => {
      this.stats.envelopeBytes += env.length;
    });
  }
}
