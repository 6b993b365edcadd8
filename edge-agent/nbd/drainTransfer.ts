import type { DrainItem, DrainResult } from './journalDrain';

/** A data extent as it crosses threads: its bytes are `length` bytes at `at` of buffer `buf`. */
type PackedExtent =
  | { kind: 'zero'; offset: number; length: number }
  | { kind: 'data'; offset: number; buf: number; at: number; length: number };

type PackedItem =
  | {
      kind: 'set';
      set: Omit<Extract<DrainItem, { kind: 'set' }>['set'], 'extents'> & {
        extents: PackedExtent[];
      };
    }
  | Extract<DrainItem, { kind: 'resync' }>;

export interface PackedResult extends Omit<DrainResult, 'items'> {
  items: PackedItem[];
  buffers: ArrayBuffer[];
}

/**
 * Packs a drain result for postMessage with its bytes moved, not copied: an extent that owns
 * its buffer is transferred as it is; the others (views of a larger read buffer, which
 * postMessage would clone whole) are copied once into one shared buffer, transferred too.
 */
export function packResult(
  res: DrainResult,
  owns: (b: Buffer) => boolean,
): { packed: PackedResult; transfer: ArrayBuffer[] } {
  const buffers: ArrayBuffer[] = [];
  const seen = new Set<ArrayBufferLike>();
  let copied = 0;
  const own = (b: Buffer) => owns(b) && !seen.has(b.buffer) && b.buffer instanceof ArrayBuffer;
  for (const it of res.items) {
    if (it.kind !== 'set') continue;
    for (const e of it.set.extents) {
      if (e.kind !== 'data') continue;
      if (own(e.data)) seen.add(e.data.buffer);
      else copied += e.data.length;
    }
  }
  seen.clear();
  const pack = copied ? Buffer.from(new ArrayBuffer(copied)) : undefined;
  if (pack) buffers.push(pack.buffer as ArrayBuffer);
  let at = 0;
  const items = res.items.map((it): PackedItem => {
    if (it.kind !== 'set') return it;
    const extents = it.set.extents.map((e): PackedExtent => {
      if (e.kind !== 'data') return e;
      const length = e.data.length;
      if (own(e.data)) {
        seen.add(e.data.buffer);
        buffers.push(e.data.buffer as ArrayBuffer);
        return { kind: 'data', offset: e.offset, buf: buffers.length - 1, at: 0, length };
      }
      e.data.copy(pack!, at);
      at += length;
      return { kind: 'data', offset: e.offset, buf: 0, at: at - length, length };
    });
    return { kind: 'set', set: { ...it.set, extents } };
  });
  return { packed: { ...res, items, buffers }, transfer: buffers };
}

/** The receiving side of packResult: extents as Buffers over the moved memory. */
export function unpackResult(p: PackedResult): DrainResult {
  const items = p.items.map((it): DrainItem => {
    if (it.kind !== 'set') return it;
    return {
      kind: 'set',
      set: {
        ...it.set,
        extents: it.set.extents.map((e) =>
          e.kind === 'data'
            ? {
                kind: 'data',
                offset: e.offset,
                data: Buffer.from(p.buffers[e.buf]!, e.at, e.length),
              }
            : e,
        ),
      },
    };
  });
  const { buffers: _b, ...rest } = p;
  return { ...rest, items };
}
