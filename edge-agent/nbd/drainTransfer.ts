import type {
  DrainExtent,
  DrainItem,
  DrainResult,
  JournalChangeSet,
  MemoryRef,
} from './drainTypes';

/**
 * Numbers per extent in the table: offset, length, source, position in it, LSN. The source is
 * a buffer's index, ZERO (a zero range) or MEMORY (a record the receiver keeps in memory: the
 * position is in its payload).
 */
const FIELDS = 5;
const ZERO = -1;
const MEMORY = -2;
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
 * Packs a drain result for postMessage with its bytes moved, not copied: an extent in a record
 * the receiver keeps in memory (`memoryRef`) travels as that record's LSN and a position in it,
 * one already in the poll's pack chunks stays where it is, one that owns its buffer is
 * transferred as it is; the others (views of a larger read buffer, which postMessage would clone
 * whole) are copied once into the pack chunks, transferred too. The extents themselves travel as
 * a table of numbers: a 4 KiB random workload has one per record, and cloning that many objects
 * cost more than the drain saved the server.
 */
export function packResult(
  res: DrainResult,
  owns: (b: Buffer) => boolean,
  arena = new PackArena(),
  memoryRef: (b: Buffer) => MemoryRef | undefined = () => undefined,
): { packed: PackedResult; transfer: ArrayBuffer[] } {
  const seen = new Set<ArrayBufferLike>();
  const own = (b: Buffer) => owns(b) && !seen.has(b.buffer) && b.buffer instanceof ArrayBuffer;
  const whole: ArrayBuffer[] = [];
  /** Rows whose source is a buffer owned whole: numbered after the chunks, once they are known. */
  const wholeRows: number[] = [];
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
        table[t + 2] = ZERO;
        continue;
      }
      table[t + 1] = e.data.length;
      const ref = memoryRef(e.data);
      if (ref) {
        table[t + 2] = MEMORY;
        table[t + 3] = ref.from;
        table[t + 4] = ref.lsn;
        continue;
      }
      let data = e.data;
      if (arena.chunkOf(data) === undefined) {
        if (own(data)) {
          seen.add(data.buffer);
          whole.push(data.buffer as ArrayBuffer);
          wholeRows.push(t);
          table[t + 2] = whole.length - 1;
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
  for (const t of wholeRows) table[t + 2] = table[t + 2]! + chunks.length;
  const buffers = [...chunks.map((c) => c.buffer as ArrayBuffer), ...whole];
  return {
    packed: { ...res, items, table, buffers, chunks: chunks.length },
    transfer: [...buffers, table.buffer],
  };
}

/**
 * The receiving side of packResult: extents as Buffers over the moved memory. With `free`, each
 * pack chunk is handed to it once every extent in it was released (release() once per extent:
 * after that its bytes may be overwritten). An extent in a record kept in memory is what
 * `memory` gives for it (its bytes and the release of a hold on them).
 */
export function unpackResult(
  p: PackedResult,
  free?: (chunk: ArrayBuffer) => void,
  memory?: (ref: MemoryRef, length: number) => { data: Buffer; release: () => void },
): DrainResult {
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
      if (buf === ZERO) {
        extents[i] = { kind: 'zero', offset, length };
        continue;
      }
      if (buf === MEMORY) {
        if (!memory) throw new Error('drain result names a record in memory: none is kept here');
        const ref = { from: table[t + 3]!, lsn: table[t + 4]! };
        extents[i] = { kind: 'data', offset, ...memory(ref, length) };
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
