import { MAX_BATCH_BYTES, type BatchBookmark, type ExtentInput } from '../core/batch';
import type { AgentDisk, ChangeRecord, ChangeSource } from './changeSource';
import { inlineEncoder, type BatchEncoder } from './encodePool';
import type { Spool } from './spool';

/** Extents per batch the agent writes (the format allows more; this keeps headers small). */
const MAX_EXTENTS = 1024;
/** Batches being sealed or appended at once (with the bytes bound below, bounds memory). */
const MAX_IN_FLIGHT = 6;
/** Plain data of the batches being sealed or appended at once. */
const MAX_IN_FLIGHT_BYTES = 48 * 1024 * 1024;
/** A batch never takes more than this share of the spool (a small spool must still fit one). */
const SPOOL_SHARE = 8;
/** Batches as large as the format allows cost the fewest requests; never below this though. */
const MIN_BATCH_BYTES = 4 * 1024 * 1024;

/** A batch handed to the encoder, on its way into the spool (in seq order). */
interface InFlight {
  done: Promise<unknown>;
  settled: boolean;
  diskId: string;
  generation: number;
  seq: number;
  firstPos: number;
  /** Upper bound of its envelope (plain data + header), for the spool's room check. */
  bytes: number;
}

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
  /** Batches sealed in parallel (the encoder's workers) and appended in order by `chain`. */
  private inflight: InFlight[] = [];
  private chain: Promise<unknown> = Promise.resolve();
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
      for (const d of this.disks.values()) {
        const seq = this.spool.nextSeq({ diskId: d.id, generation: d.generation });
        const env = await this.encoder.encode(this.header(d, seq, bookmark), [], this.ident.key);
        // Bookmarks are a few hundred bytes: they are always taken, even over the bound.
        await this.spool.append({ diskId: d.id, generation: d.generation, seq }, env);
        this.spooled.push({ key: `${d.id}/${d.generation}`, seq, maxPos: rec.pos });
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

  /** Highest position such that every record up to it is spooled (or handed back). */
  private committedPos(): number {
    let min = this.lastPos;
    for (const o of this.open.values()) min = Math.min(min, o.firstPos - 1);
    for (const f of this.inflight) if (!f.settled) min = Math.min(min, f.firstPos - 1);
    return min;
  }

  async flushAll(waitForRoom = false): Promise<void> {
    for (const d of this.disks.values()) await this.flush(d, waitForRoom);
    await this.settle();
    this.commit();
  }

  private commit(): void {
    const p = this.committedPos();
    if (p > this.committedSoFar) this.committedSoFar = p;
    this.source.committed(p);
  }

  /**
   * Per disk+generation, the highest seq whose records the source has been told are
   * committed: what the source's next checkpoint covers, so the spool may drop up to it.
   * Front-of-queue only: conservative when disks interleave, never too generous.
   */
  /** Seals the batches built from now on with another data key (a rotation). */
  useKey(keyId: string, key: Buffer): void {
    this.ident = { ...this.ident, keyId, key };
  }

  async coverage(): Promise<Record<string, number>> {
    await this.settle();
    this.commit();
    const cov: Record<string, number> = {};
    while (this.spooled.length && this.spooled[0]!.maxPos <= this.committedSoFar) {
      const b = this.spooled.shift()!;
      cov[b.key] = Math.max(cov[b.key] ?? 0, b.seq);
    }
    return cov;
  }

  /** Waits until every batch handed over is sealed and durably appended (or failed). */
  private async settle(): Promise<void> {
    const all = this.inflight;
    await Promise.all(all.map((f) => f.done));
    this.inflight = this.inflight.filter((f) => !all.includes(f));
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
      await this.settle();
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
    this.inflight = this.inflight.filter((f) => !f.settled);
    const prev = [...this.inflight]
      .reverse()
      .find((f) => f.diskId === d.id && f.generation === d.generation);
    // Batches of this disk still being sealed took the seqs before this one: numbering stays dense.
    const seq = prev
      ? prev.seq + 1
      : this.spool.nextSeq({ diskId: d.id, generation: d.generation });
    // The envelope is at most the data plus its header (compression is used only when it pays).
    const bound = o.dataBytes + 256 * o.extents.length + 4096;
    const queued = this.inflight.reduce((n, f) => n + f.bytes, 0);
    if (!this.spool.hasRoom(bound + queued)) {
      for (const e of o.extents)
        this.source.invalidate(d.id, e.offset, e.kind === 'data' ? e.data.length : e.length);
      this.droppedSinceBookmark = true;
      this.stats.droppedBatches++;
      for (const r of o.releases) r();
      return;
    }
    // Sealed on the encoder (worker threads) while the next batch accumulates; appended in
    // handing order (the chain), several at once when they queue up (the spool's group commit).
    const sealed = this.encoder.encode(this.header(d, seq), o.extents, this.ident.key);
    sealed.catch(() => undefined); // surfaced through `done`
    // The encoder has read (or copied) the extents' bytes by now: their memory may be reused.
    for (const r of o.releases) r();
    const k = { diskId: d.id, generation: d.generation, seq };
    const appended = this.chain.then(async () => {
      const env = await sealed;
      this.stats.envelopeBytes += env.length;
      // Handing it to the spool fixes its place; the next batch need not wait for the sync.
      return { durable: this.spool.append(k, env) };
    });
    this.chain = appended;
    const done = appended.then((a) => a.durable);
    done.catch(() => undefined); // surfaced by settle(); never an unhandled rejection
    const f: InFlight = {
      done,
      settled: false,
      diskId: d.id,
      generation: d.generation,
      seq,
      firstPos: o.firstPos,
      bytes: bound,
    };
    done.then(
      () => (f.settled = true),
      () => undefined,
    );
    this.inflight.push(f);
    this.spooled.push({ key: `${d.id}/${d.generation}`, seq, maxPos: o.lastPos });
    this.stats.batches++;
    this.stats.plainBytes += o.dataBytes;
    // Backpressure: at most MAX_IN_FLIGHT batches (MAX_IN_FLIGHT_BYTES) sealed or appended at once.
    for (;;) {
      const busy = this.inflight.filter((x) => !x.settled);
      const bytes = busy.reduce((n, x) => n + x.bytes, 0);
      if (busy.length < MAX_IN_FLIGHT && (busy.length < 2 || bytes < MAX_IN_FLIGHT_BYTES)) break;
      await busy[0]!.done;
    }
  }
}
