import { describe, expect, it } from 'vitest';
import { packResult, unpackResult } from '../../../edge-agent/nbd/drainTransfer';
import type { DrainResult } from '../../../edge-agent/nbd/journalDrain';

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
