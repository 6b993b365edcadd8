import type { Extent } from '../journal/coalescer';
import type { DrainItem, DrainResult, JournalChangeSet } from './journalDrain';

/** Numbers per extent in the table: offset, length, buffer index (-1: a zero range), position in it. */
const FIELDS = 4;

type PackedItem =
  | { kind: 'set'; set: Omit<JournalChangeSet, 'extents'> & { first: number; count: number } }
  | Extract<DrainItem, { kind: 'resync' }>;

export interface PackedResult extends Omit<DrainResult, 'items'> {
  items: PackedItem[];
  /** The extents of every set, FIELDS numbers each (a typed array: cloned as one copy). */
  table: Float64Array;
  buffers: ArrayBuffer[];
}

/**
 * Packs a drain result for postMessage with its bytes moved, not copied: an extent that owns
 * its buffer is transferred as it is; the others (views of a larger read buffer, which
 * postMessage would clone whole) are copied once into one shared buffer, transferred too. The
 * extents themselves travel as a table of numbers: a 4 KiB random workload has one per record,
 * and cloning that many objects cost more than the drain saved the server.
 */
export function packResult(
  res: DrainResult,
  owns: (b: Buffer) => boolean,
): { packed: PackedResult; transfer: ArrayBuffer[] } {
  const seen = new Set<ArrayBufferLike>();
  const own = (b: Buffer) => owns(b) && !seen.has(b.buffer) && b.buffer instanceof ArrayBuffer;
  let copied = 0;
  let extents = 0;
  for (const it of res.items) {
    if (it.kind !== 'set') continue;
    extents += it.set.extents.length;
    for (const e of it.set.extents) {
      if (e.kind !== 'data') continue;
      if (own(e.data)) seen.add(e.data.buffer);
      else copied += e.data.length;
    }
  }
  seen.clear();
  const buffers: ArrayBuffer[] = [];
  const pack = copied ? Buffer.from(new ArrayBuffer(copied)) : undefined;
  if (pack) buffers.push(pack.buffer as ArrayBuffer);
  const table = new Float64Array(extents * FIELDS);
  let at = 0;
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
        buffers.push(e.data.buffer as ArrayBuffer);
        table[t + 2] = buffers.length - 1;
        table[t + 3] = 0;
      } else {
        e.data.copy(pack!, at);
        table[t + 2] = 0;
        table[t + 3] = at;
        at += e.data.length;
      }
    }
    return { kind: 'set', set: { ...set, first, count: row - first } };
  });
  return { packed: { ...res, items, table, buffers }, transfer: [...buffers, table.buffer] };
}

/** The receiving side of packResult: extents as Buffers over the moved memory. */
export function unpackResult(p: PackedResult): DrainResult {
  const { table, buffers } = p;
  const items = p.items.map((it): DrainItem => {
    if (it.kind !== 'set') return it;
    const { first, count, ...set } = it.set;
    const extents: Extent[] = new Array<Extent>(count);
    for (let i = 0; i < count; i++) {
      const t = (first + i) * FIELDS;
      const offset = table[t]!;
      const length = table[t + 1]!;
      const buf = table[t + 2]!;
      extents[i] =
        buf < 0
          ? { kind: 'zero', offset, length }
          : { kind: 'data', offset, data: Buffer.from(buffers[buf]!, table[t + 3]!, length) };
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
