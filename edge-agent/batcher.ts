import { MAX_BATCH_BYTES, encodeBatch, type BatchBookmark, type ExtentInput } from '../core/batch';
import type { AgentDisk, ChangeRecord, ChangeSource } from './changeSource';
import type { Spool } from './spool';

/** Extents per batch the agent writes (the format allows more; this keeps headers small). */
const MAX_EXTENTS = 1024;

interface Open {
  extents: ExtentInput[];
  firstPos: number;
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
 * offset order up to MAX_BATCH_BYTES of data; a record that goes backwards or overlaps
 * starts the next batch (the order of writes is the order of seqs). A batch gets its seq
 * only when it is spooled. If the spool is full the batch is not taken: its ranges go
 * back to the source as dirty and the next bookmark waits until they were produced again.
 */
export class Batcher {
  private open = new Map<string, Open>();
  private lastPos = 0;
  private droppedSinceBookmark = false;
  readonly stats: BatcherStats = { batches: 0, plainBytes: 0, envelopeBytes: 0, droppedBatches: 0 };

  constructor(
    private readonly spool: Spool,
    private readonly source: ChangeSource,
    private readonly disks: ReadonlyMap<string, AgentDisk>,
    private readonly ident: { machineId: string; keyId: string; key: Buffer },
  ) {}

  /** Handles one record; resolves a bookmark's spooled id or undefined. */
  async add(rec: ChangeRecord): Promise<{ bookmark?: string; dropped?: boolean }> {
    if (rec.kind === 'idle') {
      await this.flushAll();
      this.lastPos = rec.pos;
      this.source.committed(this.committedPos());
      return {};
    }
    if (rec.kind === 'bookmark') {
      await this.flushAll();
      this.lastPos = rec.pos;
      if (this.droppedSinceBookmark) {
        // Some change before this cut was not taken: the cut would lie. Ask again.
        this.droppedSinceBookmark = false;
        void this.source.requestBookmark({
          id: rec.id,
          consistency: rec.consistency,
          groupId: rec.groupId,
        });
        this.source.committed(this.committedPos());
        return { dropped: true };
      }
      const bookmark: BatchBookmark = {
        id: rec.id,
        consistency: rec.consistency,
        ...(rec.groupId ? { groupId: rec.groupId } : {}),
        createdAt: rec.createdAt,
      };
      for (const d of this.disks.values()) {
        const seq = this.spool.nextSeq({ diskId: d.id, generation: d.generation });
        const env = encodeBatch(this.header(d, seq, bookmark), [], this.ident.key);
        // Bookmarks are a few hundred bytes: they are always taken, even over the bound.
        await this.spool.append({ diskId: d.id, generation: d.generation, seq }, env);
        this.stats.batches++;
        this.stats.envelopeBytes += env.length;
      }
      this.source.committed(this.committedPos());
      return { bookmark: rec.id };
    }
    const disk = this.disks.get(rec.diskId);
    if (!disk) return {};
    // Split oversized writes so a batch never exceeds MAX_BATCH_BYTES of data.
    const pieces: ExtentInput[] = [];
    if (rec.data) {
      for (let o = 0; o < rec.data.length; o += MAX_BATCH_BYTES) {
        pieces.push({
          kind: 'data',
          offset: rec.offset + o,
          data: rec.data.subarray(o, o + MAX_BATCH_BYTES),
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
          o.dataBytes + dataLen > MAX_BATCH_BYTES ||
          o.extents.length >= MAX_EXTENTS)
      ) {
        await this.flush(disk);
        o = undefined;
      }
      if (!o) {
        o = { extents: [], firstPos: rec.pos, dataBytes: 0, end: 0 };
        this.open.set(disk.id, o);
      }
      o.extents.push(p);
      o.dataBytes += dataLen;
      o.end = p.offset + len;
    }
    this.lastPos = rec.pos;
    this.source.committed(this.committedPos());
    return {};
  }

  /** Highest position such that every record up to it is spooled (or handed back). */
  private committedPos(): number {
    let min = this.lastPos;
    for (const o of this.open.values()) min = Math.min(min, o.firstPos - 1);
    return min;
  }

  async flushAll(): Promise<void> {
    for (const d of this.disks.values()) await this.flush(d);
    this.source.committed(this.committedPos());
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

  private async flush(d: AgentDisk): Promise<void> {
    const o = this.open.get(d.id);
    if (!o) return;
    this.open.delete(d.id);
    const seq = this.spool.nextSeq({ diskId: d.id, generation: d.generation });
    const env = encodeBatch(this.header(d, seq), o.extents, this.ident.key);
    if (!this.spool.hasRoom(env.length)) {
      for (const e of o.extents)
        this.source.invalidate(d.id, e.offset, e.kind === 'data' ? e.data.length : e.length);
      this.droppedSinceBookmark = true;
      this.stats.droppedBatches++;
      return;
    }
    await this.spool.append({ diskId: d.id, generation: d.generation, seq }, env);
    this.stats.batches++;
    this.stats.plainBytes += o.dataBytes;
    this.stats.envelopeBytes += env.length;
  }
}
