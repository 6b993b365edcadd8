import type { DrainExtent, DrainItem, DrainResult, JournalChangeSet } from './journalDrain';

/** Numbers per extent in the table: offset, length, buffer index (-1: a zero range), position in it. */
const FIELDS = 4;
/**
 * Size of the buffers extents are copied into. Fixed, so that a buffer the agent is done with
 * can go back to the drain thread and be filled again (no fresh pages, no external-memory
 * collections); an extent is at most 4 MiB, so one always fits.
 */
export const PACK_CHUNK_BYTES = 8 * 1024 * 1024;

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
 * Packs a drain result for postMessage with its bytes moved, not copied: an extent that owns
 * its buffer is transferred as it is; the others (views of a larger read buffer, which
 * postMessage would clone whole) are copied once into pack chunks (from `chunk`: ones the
 * receiver handed back when it could), transferred too. The extents themselves travel as a
 * table of numbers: a 4 KiB random workload has one per record, and cloning that many objects
 * cost more than the drain saved the server.
 */
export function packResult(
  res: DrainResult,
  owns: (b: Buffer) => boolean,
  chunk: () => ArrayBuffer = () => new ArrayBuffer(PACK_CHUNK_BYTES),
): { packed: PackedResult; transfer: ArrayBuffer[] } {
  const seen = new Set<ArrayBufferLike>();
  const own = (b: Buffer) => owns(b) && !seen.has(b.buffer) && b.buffer instanceof ArrayBuffer;
  const chunks: Buffer[] = [];
  const whole: ArrayBuffer[] = [];
  let at = PACK_CHUNK_BYTES;
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
      if (own(e.data)) {
        seen.add(e.data.buffer);
        whole.push(e.data.buffer as ArrayBuffer);
        table[t + 2] = -2 - (whole.length - 1); // renumbered below, after the chunks
        table[t + 3] = 0;
        continue;
      }
      if (at + e.data.length > PACK_CHUNK_BYTES) {
        const c = e.data.length > PACK_CHUNK_BYTES ? new ArrayBuffer(e.data.length) : chunk();
        chunks.push(Buffer.from(c));
        at = 0;
      }
      e.data.copy(chunks[chunks.length - 1]!, at);
      table[t + 2] = chunks.length - 1;
      table[t + 3] = at;
      at += e.data.length;
    }
    return { kind: 'set', set: { ...set, first, count: row - first } };
  });
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
    records: p.records,
    coalescedBytes: p.coalescedBytes,
  };
}
