import type { DrainExtent, DrainItem, DrainResult, JournalChangeSet } from './journalDrain';

/** Numbers per extent in the table: offset, length, buffer index (-1: a zero range), position in it. */
const FIELDS = 4;
/**
 * Size of the buffers extents are copied into. Fixed, so that a buffer the agent is done with
 * can go back to the drain thread and be filled again (no fresh pages, no external-memory
 * collections); an extent is at most 4 MiB, so one always fits.
 */
export const PACK_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * Memory for a pack chunk, not zeroed: only the ranges extents are copied into are ever read,
 * and zeroing 8 MiB touched every page twice (a sixth of the server's CPU in the sequential
 * splitter job, while a fresh drain thread had no spare chunks yet).
 */
export function packChunk(length = PACK_CHUNK_BYTES): ArrayBuffer {
  return Buffer.allocUnsafeSlow(length).buffer as ArrayBuffer;
}

type PackedItem =
  | { kind: 'set'; set: Omit<JournalChangeSet, 'extents'> & { first: number; count: number } }
  | Extract<DrainItem, { kind: 'resync' }>;

export interface PackedResult extends Omit<DrainResult, 'items'> {
  items: PackedItem[];
  /** The extents of every set, FIELDS numbers each (a typed array: cloned as one copy). */
  table: Float64Array;
  /** Pack chunks first (`chunks` of them), then buffers extents owned whole. */
  buffers: ArrayBuffer[];
  chunks: number;
}

/**
 * The pack chunks of one poll: the drain joins adjacent pieces straight into them
 * (`toExtents`' allocator) and `packResult` copies the remaining views in after, so every byte
 * moved is written once, into memory handed back by the receiver when it could be. Joined
 * extents in fresh buffers of their own took a quarter of the drain thread in the 1 MiB
 * sequential splitter job: each transfer left the thread for good, so every join touched new
 * pages.
 */
export class PackArena {
  readonly chunks: Buffer[] = [];
  private readonly index = new Map<ArrayBufferLike, number>();
  private at = PACK_CHUNK_BYTES;

  constructor(private readonly chunk: () => ArrayBuffer = () => packChunk()) {}

  /** `length` bytes in a pack chunk (one of its own when larger than a chunk). */
  alloc(length: number): Buffer {
    if (this.at + length > PACK_CHUNK_BYTES) {
      const c = Buffer.from(length > PACK_CHUNK_BYTES ? packChunk(length) : this.chunk());
      this.index.set(c.buffer, this.chunks.length);
      this.chunks.push(c);
      this.at = 0;
    }
    const b = this.chunks[this.chunks.length - 1]!.subarray(this.at, this.at + length);
    this.at += length;
    return b;
  }

  /** The chunk `b` was allocated in, if it was. */
  chunkOf(b: Buffer): number | undefined {
    return this.index.get(b.buffer);
  }
}

/**
 * Packs a drain result for postMessage with its bytes moved, not copied: an extent already in
 * one of the poll's pack chunks stays where it is, one that owns its buffer is transferred as
 * it is; the others (views of a larger read buffer, which postMessage would clone whole) are
 * copied once into the pack chunks, transferred too. The extents themselves travel as a table
 * of numbers: a 4 KiB random workload has one per record, and cloning that many objects cost
 * more than the drain saved the server.
 */
export function packResult(
  res: DrainResult,
  owns: (b: Buffer) => boolean,
  arena = new PackArena(),
): { packed: PackedResult; transfer: ArrayBuffer[] } {
  const seen = new Set<ArrayBufferLike>();
  const own = (b: Buffer) => owns(b) && !seen.has(b.buffer) && b.buffer instanceof ArrayBuffer;
  const whole: ArrayBuffer[] = [];
  let rows = 0;
  for (const it of res.items) if (it.kind === 'set') rows += it.set.extents.length;
  const table = new Float64Array(rows * FIELDS);
  let row = 0;
  const items = res.items.map((it): PackedItem => {
    if (it.kind !== 'set') return it;
    const { extents: list, ...set } = it.set;
    const first = row;
    for (const e of list) {
      const t = row++ * FIELDS;
      table[t] = e.offset;
      if (e.kind === 'zero') {
        table[t + 1] = e.length;
        table[t + 2] = -1;
        continue;
      }
      table[t + 1] = e.data.length;
      let data = e.data;
      if (arena.chunkOf(data) === undefined) {
        if (own(data)) {
          seen.add(data.buffer);
          whole.push(data.buffer as ArrayBuffer);
          table[t + 2] = -2 - (whole.length - 1); // renumbered below, after the chunks
          table[t + 3] = 0;
          continue;
        }
        data = arena.alloc(data.length);
        e.data.copy(data);
      }
      table[t + 2] = arena.chunkOf(data)!;
      table[t + 3] = data.byteOffset;
    }
    return { kind: 'set', set: { ...set, first, count: row - first } };
  });
  const chunks = arena.chunks;
  for (let t = 2; t < table.length; t += FIELDS)
    if (table[t]! <= -2) table[t] = chunks.length + (-2 - table[t]!);
  const buffers = [...chunks.map((c) => c.buffer as ArrayBuffer), ...whole];
  return {
    packed: { ...res, items, table, buffers, chunks: chunks.length },
    transfer: [...buffers, table.buffer],
  };
}

/**
 * The receiving side of packResult: extents as Buffers over the moved memory. With `free`, each
 * pack chunk is handed to it once every extent in it was released (release() once per extent:
 * after that its bytes may be overwritten).
 */
export function unpackResult(p: PackedResult, free?: (chunk: ArrayBuffer) => void): DrainResult {
  const { table, buffers } = p;
  const users = new Array<number>(p.chunks).fill(0);
  const release = (chunk: number) => {
    let done = false;
    users[chunk]!++;
    return () => {
      if (done) return;
      done = true;
      if (--users[chunk]! === 0) free!(buffers[chunk]!);
    };
  };
  const items = p.items.map((it): DrainItem => {
    if (it.kind !== 'set') return it;
    const { first, count, ...set } = it.set;
    const extents: DrainExtent[] = new Array<DrainExtent>(count);
    for (let i = 0; i < count; i++) {
      const t = (first + i) * FIELDS;
      const offset = table[t]!;
      const length = table[t + 1]!;
      const buf = table[t + 2]!;
      if (buf < 0) {
        extents[i] = { kind: 'zero', offset, length };
        continue;
      }
      const data = Buffer.from(buffers[buf]!, table[t + 3]!, length);
      extents[i] =
        free && buf < p.chunks
          ? { kind: 'data', offset, data, release: release(buf) }
          : { kind: 'data', offset, data };
    }
    return { kind: 'set', set: { ...set, extents } };
  });
  return {
    items,
    nextLsn: p.nextLsn,
    dropped: p.dropped,
    cutLsn: p.cutLsn,
    records: p.records,
    coalescedBytes: p.coalescedBytes,
  };
}
