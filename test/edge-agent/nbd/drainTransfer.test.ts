import { describe, expect, it } from 'vitest';
import {
  PACK_CHUNK_BYTES,
  PackArena,
  packResult,
  unpackResult,
} from '../../../edge-agent/nbd/drainTransfer';
import type { DrainResult } from '../../../edge-agent/nbd/drainTypes';

const MiB = 1024 * 1024;

/** One set of data extents, 8 MiB apart. */
const result = (datas: Buffer[]): DrainResult => ({
  items: [
    {
      kind: 'set',
      set: {
        diskId: 'd0',
        diskIndex: 0,
        upToLsn: 1,
        extents: datas.map((data, i) => ({ kind: 'data', offset: i * 8 * MiB, data })),
      },
    },
  ],
  nextLsn: 2,
  dropped: [],
  cutLsn: 1,
  records: datas.length,
  coalescedBytes: 0,
});

describe('drain results across threads', () => {
  it('round-trips sets, zero ranges and resyncs; owned buffers move, views are copied once', () => {
    const readAhead = Buffer.alloc(64 * 1024, 3);
    const view = readAhead.subarray(4096, 8192);
    const owned = Buffer.from(new ArrayBuffer(8192)).fill(7);
    const res: DrainResult = {
      items: [
        {
          kind: 'set',
          set: {
            diskId: 'd0',
            diskIndex: 0,
            upToLsn: 9,
            extents: [
              { kind: 'data', offset: 0, data: view },
              { kind: 'zero', offset: 4096, length: 512 },
              { kind: 'data', offset: 1 << 40, data: owned },
            ],
          },
        },
        { kind: 'resync', diskIndex: 1, lsn: 10 },
        {
          kind: 'set',
          set: {
            diskId: '',
            diskIndex: 0xffff,
            upToLsn: 11,
            extents: [],
            bookmark: { id: 'b1', consistency: 'crash', createdAt: 'now' },
          },
        },
      ],
      nextLsn: 12,
      dropped: ['old'],
      cutLsn: 11,
      records: 11,
      coalescedBytes: 0,
    };
    // Data as hex, so the comparison sees bytes and not which buffer holds them.
    const plain = (r: DrainResult) =>
      JSON.parse(
        JSON.stringify(r, (_k, v: unknown) =>
          v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer'
            ? Buffer.from((v as { data: number[] }).data).toString('hex')
            : v,
        ),
      ) as unknown;
    const expected = plain(res);
    const { packed, transfer } = packResult(res, (b) => b === owned);
    expect(transfer).toContain(owned.buffer);
    expect(transfer).not.toContain(readAhead.buffer);
    // What postMessage does with a transfer list.
    const back = unpackResult(structuredClone(packed, { transfer }));
    expect(owned.length).toBe(0); // moved, not copied
    expect(readAhead.length).toBe(64 * 1024); // the reader's buffer stays
    expect(plain(back)).toEqual(expected);
    const first = back.items[0];
    const e = first?.kind === 'set' ? first.set.extents[0] : undefined;
    expect(e?.kind === 'data' && Buffer.isBuffer(e.data)).toBe(true);
  });
});

describe('extents in records kept in memory', () => {
  it('travel as the record and a position in it, and are taken from the receiver', () => {
    const payload = Buffer.from(new SharedArrayBuffer(1024 * 1024)).fill(9);
    const view = payload.subarray(4096, 4096 + 65536);
    const res = result([view]);
    const { packed, transfer } = packResult(
      res,
      () => false,
      new PackArena(),
      (b) => (b === view ? { lsn: 7, from: 4096 } : undefined),
    );
    expect(packed.chunks).toBe(0); // nothing copied
    const asked: unknown[] = [];
    const released: number[] = [];
    const back = unpackResult(structuredClone(packed, { transfer }), undefined, (ref, length) => {
      asked.push({ ...ref, length });
      return {
        data: payload.subarray(ref.from, ref.from + length),
        release: () => released.push(ref.lsn),
      };
    });
    expect(asked).toEqual([{ lsn: 7, from: 4096, length: 65536 }]);
    const item = back.items[0]!;
    const e = item.kind === 'set' ? item.set.extents[0] : undefined;
    expect(e?.kind === 'data' && e.data.buffer === payload.buffer).toBe(true);
    e?.release?.();
    expect(released).toEqual([7]);
    // A receiver that keeps no records cannot take such a result.
    const again = packResult(
      res,
      () => false,
      new PackArena(),
      () => ({ lsn: 7, from: 4096 }),
    );
    expect(() => unpackResult(again.packed)).toThrow(/record in memory/);
  });
});

describe('pack chunks', () => {
  it('are filled from the provider, and each is freed once, after its last extent is released', () => {
    const src = Buffer.alloc(16 * MiB, 5);
    // 3 + 3 + 3 MiB: the third does not fit the first chunk's 8 MiB; 9 MiB gets a buffer of its own.
    const datas = [
      src.subarray(0, 3 * MiB),
      src.subarray(0, 3 * MiB),
      src.subarray(0, 3 * MiB),
      src.subarray(0, 9 * MiB),
    ];
    let provided = 0;
    const { packed, transfer } = packResult(
      result(datas),
      () => false,
      new PackArena(() => (provided++, new ArrayBuffer(PACK_CHUNK_BYTES))),
    );
    expect(provided).toBe(2);
    expect(packed.chunks).toBe(3);
    const freed: ArrayBuffer[] = [];
    const back = unpackResult(structuredClone(packed, { transfer }), (c) => freed.push(c));
    const item = back.items[0]!;
    const ext = item.kind === 'set' ? item.set.extents : [];
    expect(ext.map((e) => (e.kind === 'data' ? e.data.length : 0))).toEqual(
      datas.map((d) => d.length),
    );
    expect(ext.every((e) => e.kind === 'data' && e.data.every((b) => b === 5))).toBe(true);
    ext[0]!.release!();
    ext[0]!.release!(); // a second call is ignored: the chunk still has a user
    expect(freed).toEqual([]);
    ext[1]!.release!();
    expect(freed.map((c) => c.byteLength)).toEqual([PACK_CHUNK_BYTES]);
    ext[3]!.release!();
    ext[2]!.release!();
    expect(freed.map((c) => c.byteLength)).toEqual([PACK_CHUNK_BYTES, 9 * MiB, PACK_CHUNK_BYTES]);
  });

  it('leave owned buffers alone, and give no release() without a free callback', () => {
    const owned = Buffer.from(new ArrayBuffer(4096)).fill(1);
    const view = Buffer.alloc(8192, 2).subarray(0, 4096);
    const { packed, transfer } = packResult(result([owned, view]), (b) => b === owned);
    const back = unpackResult(structuredClone(packed, { transfer }), () => undefined);
    const item = back.items[0]!;
    const ext = item.kind === 'set' ? item.set.extents : [];
    expect(ext[0]!.release).toBeUndefined();
    expect(ext[1]!.release).toBeTypeOf('function');
    // Without a free callback (tests, tools) nothing is handed back.
    const again = packResult(result([view]), () => false);
    const plain = unpackResult(structuredClone(again.packed, { transfer: again.transfer }));
    const pItem = plain.items[0]!;
    expect(pItem.kind === 'set' && pItem.set.extents.every((e) => !e.release)).toBe(true);
  });

  it('keep extents already written into them where they are (the drain joins pieces there)', () => {
    let provided = 0;
    const arena = new PackArena(() => (provided++, new ArrayBuffer(PACK_CHUNK_BYTES)));
    // What the drain's toExtents does with adjacent pieces: one copy, into the poll's chunk.
    const joined = arena.alloc(3 * MiB).fill(4);
    const view = Buffer.alloc(2 * MiB, 6).subarray(MiB);
    const { packed, transfer } = packResult(result([joined, view]), (b) => b !== view, arena);
    expect(provided).toBe(1); // both in one chunk: the joined extent was not copied again
    expect(packed.chunks).toBe(1);
    expect(transfer).not.toContain(view.buffer);
    const freed: ArrayBuffer[] = [];
    const back = unpackResult(structuredClone(packed, { transfer }), (c) => freed.push(c));
    const item = back.items[0]!;
    const ext = item.kind === 'set' ? item.set.extents : [];
    expect(
      ext.map((e) => (e.kind === 'data' ? [e.data.length, e.data[0], e.data.at(-1)] : [])),
    ).toEqual([
      [3 * MiB, 4, 4],
      [MiB, 6, 6],
    ]);
    ext[0]!.release!();
    expect(freed).toEqual([]);
    ext[1]!.release!();
    expect(freed.map((c) => c.byteLength)).toEqual([PACK_CHUNK_BYTES]);
  });
});
