import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  MAX_BATCH_BYTES,
  decodeBatch,
  encodeBatch,
  isEnvelope,
  makeBatchRef,
  parseBatchRef,
  peekHeader,
  verifyClaimedEnvelope,
  type BatchHeaderInput,
  type ExtentInput,
} from '../../../core/batch';
import { HavenError } from '../../../core/errors';

const key = randomBytes(32);
const getKey = (m: string, k: string) => {
  expect(m).toBe('m-1');
  expect(k).toBe('k0');
  return key;
};
const base: BatchHeaderInput = {
  machineId: 'm-1',
  diskId: 'd-1',
  generation: 1,
  seq: 7,
  diskSize: 64 * 1024 * 1024,
  keyId: 'k0',
};
const text = Buffer.from('hello haven '.repeat(100_000)).subarray(0, 1024 * 1024);
const extents: ExtentInput[] = [
  { kind: 'data', offset: 0, data: text },
  { kind: 'zero', offset: 1024 * 1024, length: 8 * 1024 * 1024 },
  { kind: 'data', offset: 9 * 1024 * 1024, data: randomBytes(65536) },
  { kind: 'data', offset: 20 * 1024 * 1024, data: Buffer.alloc(512, 7) },
];

async function rejects(buf: Buffer, k: Buffer = key): Promise<HavenError> {
  try {
    await decodeBatch(buf, () => k);
  } catch (e) {
    expect(e).toBeInstanceOf(HavenError);
    return e as HavenError;
  }
  throw new Error('decodeBatch accepted a bad envelope');
}

/** Rebuilds an envelope with a different (still valid JSON) header, keeping the sealed payload. */
function withHeader(env: Buffer, edit: (h: Record<string, unknown>) => void): Buffer {
  const hl = env.readUInt32BE(4);
  const h = JSON.parse(env.subarray(8, 8 + hl).toString()) as Record<string, unknown>;
  edit(h);
  const hb = Buffer.from(JSON.stringify(h));
  const pre = Buffer.alloc(8);
  pre.write('HVB1');
  pre.writeUInt32BE(hb.length, 4);
  return Buffer.concat([pre, hb, env.subarray(8 + hl)]);
}

describe('batch format', () => {
  it('round-trips data and zero extents, compressing only what pays', async () => {
    const env = encodeBatch(
      {
        ...base,
        bookmark: { id: 'bm-1', consistency: 'crash', createdAt: new Date().toISOString() },
      },
      extents,
      key,
    );
    expect(isEnvelope(env)).toBe(true);
    const { header, extents: out } = await decodeBatch(env, getKey);
    expect(header.seq).toBe(7);
    expect(header.bookmark?.id).toBe('bm-1');
    expect(header.extents.map((e) => e.codec)).toEqual(['zstd', 'none', 'none', 'zstd']);
    expect(out).toHaveLength(4);
    expect(out[0]).toMatchObject({ kind: 'data', offset: 0 });
    expect((out[0] as { data: Buffer }).data.equals(text)).toBe(true);
    expect(out[1]).toEqual({ kind: 'zero', offset: 1024 * 1024, length: 8 * 1024 * 1024 });
    expect(
      (out[2] as { data: Buffer }).data.equals((extents[2] as unknown as { data: Buffer }).data),
    ).toBe(true);
    expect(env.length).toBeLessThan(text.length / 4 + 65536 + 4096);
  });

  it('after 8 extents in a row that do not compress, tries one in 16 until one pays again', async () => {
    const KiB = 1024;
    // 10 random extents, then 30 of text: 64 KiB each, offsets ascending.
    const mixed = Array.from({ length: 40 }, (_, i) => ({
      kind: 'data' as const,
      offset: i * 64 * KiB,
      data: i < 10 ? randomBytes(64 * KiB) : text.subarray(0, 64 * KiB),
    }));
    const env = encodeBatch(base, mixed, key);
    const { header, extents: out } = await decodeBatch(env, getKey);
    const codecs = header.extents.map((e) => e.codec);
    // Past the 8th miss only probes: the text is found by one of them, not at once (the price).
    const firstHit = codecs.indexOf('zstd');
    expect(firstHit).toBeGreaterThan(10);
    expect(firstHit).toBeLessThan(8 + 16 + 1);
    expect(codecs.slice(0, firstHit).every((c) => c === 'none')).toBe(true);
    expect(codecs.slice(firstHit).every((c) => c === 'zstd')).toBe(true);
    for (const [i, e] of out.entries())
      expect((e as { data: Buffer }).data.equals(mixed[i]!.data)).toBe(true);
  });

  it('decodes in place to the same extents, and refuses tampering there too', async () => {
    for (const codec of ['zstd', 'lz4', 'none'] as const) {
      // Larger than one in-place piece (64 KiB), and not a multiple of it.
      const big = [{ kind: 'data' as const, offset: 0, data: randomBytes(200 * 1024 + 7 * 512) }];
      for (const input of [extents, big]) {
        const env = encodeBatch(base, input, key, { codec });
        const want = await decodeBatch(Buffer.from(env), getKey);
        const got = await decodeBatch(env, getKey, { inPlace: true });
        expect(got.header).toEqual(want.header);
        expect(got.extents).toEqual(want.extents);
      }
    }
    const env = encodeBatch(base, extents, key);
    for (const at of [env.length - 1, env.length - 20, Math.floor(env.length / 2)]) {
      const bad = Buffer.from(env);
      bad[at] = bad[at]! ^ 0x01;
      await expect(decodeBatch(bad, getKey, { inPlace: true })).rejects.toMatchObject({
        kind: 'integrity',
      });
    }
  });

  it('uses a fresh nonce for every envelope', () => {
    const a = peekHeader(encodeBatch(base, extents, key)).nonce;
    const b = peekHeader(encodeBatch(base, extents, key)).nonce;
    expect(a).toMatch(/^[0-9a-f]{24}$/);
    expect(a).not.toBe(b);
  });

  it('decodes lz4 and uncompressed extents', async () => {
    for (const codec of ['lz4', 'none'] as const) {
      const env = encodeBatch(base, extents, key, { codec });
      const { header, extents: out } = await decodeBatch(env, getKey);
      expect(header.extents[0]!.codec).toBe(codec);
      expect((out[0] as { data: Buffer }).data.equals(text)).toBe(true);
    }
  });

  it('carries a bookmark with no extents', async () => {
    const env = encodeBatch(
      {
        ...base,
        bookmark: { id: 'b', consistency: 'app', groupId: 'g1', createdAt: '2026-11-28T05:00:00Z' },
      },
      [],
      key,
    );
    const d = await decodeBatch(env, getKey);
    expect(d.extents).toEqual([]);
    expect(d.header.bookmark).toEqual({
      id: 'b',
      consistency: 'app',
      groupId: 'g1',
      createdAt: '2026-11-28T05:00:00Z',
    });
  });

  it('a group bookmark may say it was a barrier; nothing else may', async () => {
    const at = '2026-11-28T05:00:00Z';
    const seal = (bookmark: Record<string, unknown>) =>
      encodeBatch({ ...base, bookmark } as unknown as typeof base, [], key);
    const d = await decodeBatch(
      seal({ id: 'b', consistency: 'crash', groupId: 'g1', barrier: true, createdAt: at }),
      getKey,
    );
    expect(d.header.bookmark?.barrier).toBe(true);
    for (const bad of [
      { id: 'b', consistency: 'crash', barrier: true, createdAt: at }, // not a group cut
      { id: 'b', consistency: 'crash', groupId: 'g1', barrier: false, createdAt: at },
      { id: 'b', consistency: 'crash', groupId: 'g1', barrier: 'yes', createdAt: at },
    ])
      expect(() => seal(bad)).toThrow(/bookmark\.barrier/);
  });

  it('refuses every single flipped byte: header, payload or tag', async () => {
    const env = encodeBatch(
      base,
      [
        { kind: 'data', offset: 4096, data: Buffer.from('x'.repeat(512)) },
        { kind: 'zero', offset: 8192, length: 512 },
      ],
      key,
    );
    for (let i = 0; i < env.length; i++) {
      const bad = Buffer.from(env);
      bad[i] = bad[i]! ^ 0x01;
      const err = await rejects(bad);
      expect(['validation', 'integrity', 'too-large']).toContain(err.kind);
    }
  });

  it('reports tampering as integrity errors with a clear message', async () => {
    const env = encodeBatch(base, extents, key);
    const hl = env.readUInt32BE(4);
    // a header value changed but still valid: the AAD no longer matches
    const h = withHeader(env, (x) => (x.seq = 8));
    expect((await rejects(h)).kind).toBe('integrity');
    const payload = Buffer.from(env);
    payload[8 + hl + 100] = payload[8 + hl + 100]! ^ 0xff;
    expect((await rejects(payload)).message).toMatch(/fails authentication/);
    const tag = Buffer.from(env);
    tag[tag.length - 1] = tag[tag.length - 1]! ^ 0x80;
    expect((await rejects(tag)).kind).toBe('integrity');
    expect((await rejects(env, randomBytes(32))).kind).toBe('integrity');
    const truncated = env.subarray(0, env.length - 1);
    expect((await rejects(truncated)).message).toMatch(/truncated|describes/);
    expect((await rejects(env.subarray(0, 20))).kind).toBe('integrity');
    expect((await rejects(Buffer.from('HVB2' + 'x'.repeat(100)))).message).toMatch(/magic/);
  });

  it('refuses headers that lie or break the contract', async () => {
    const env = encodeBatch(base, extents, key);
    const cases: [string, (h: Record<string, unknown>) => void, RegExp][] = [
      [
        'length lie',
        (h) => ((h.extents as { encodedLength: number }[])[2]!.encodedLength += 512),
        /encodedLength|at is|describes/,
      ],
      ['unsorted', (h) => (h.extents as unknown[]).reverse(), /sorted|at is/],
      ['overlap', (h) => ((h.extents as { offset: number }[])[1]!.offset = 512 * 1024), /overlaps/],
      ['beyond disk', (h) => (h.diskSize = 16 * 1024 * 1024), /beyond diskSize/],
      ['unaligned', (h) => ((h.extents as { offset: number }[])[2]!.offset += 100), /aligned/],
      ['bad codec', (h) => ((h.extents as { codec: string }[])[0]!.codec = 'brotli'), /codec/],
      ['unknown field', (h) => (h.extra = 1), /unknown field/],
      ['bad id', (h) => (h.diskId = '../x'), /diskId/],
      ['seq 0', (h) => (h.seq = 0), /seq/],
      [
        'zero with bytes',
        (h) => ((h.extents as { encodedLength: number }[])[1]!.encodedLength = 512),
        /zero extent/,
      ],
      ['version', (h) => (h.v = 2), /version/],
    ];
    for (const [name, edit, msg] of cases) {
      const err = await rejects(withHeader(env, edit));
      expect(['validation', 'integrity'], name).toContain(err.kind);
      expect(err.message, name).toMatch(msg);
    }
  });

  it('refuses to encode what the receiver would refuse', () => {
    expect(() =>
      encodeBatch(base, [{ kind: 'data', offset: 100, data: Buffer.alloc(512) }], key),
    ).toThrow(/aligned/);
    expect(() =>
      encodeBatch(
        base,
        [{ kind: 'data', offset: 0, data: Buffer.alloc(MAX_BATCH_BYTES + 512) }],
        key,
      ),
    ).toThrow(/more than/);
    expect(() =>
      encodeBatch(
        base,
        [
          { kind: 'zero', offset: 0, length: 1024 },
          { kind: 'zero', offset: 512, length: 512 },
        ],
        key,
      ),
    ).toThrow(/overlaps/);
    expect(() => encodeBatch(base, [], Buffer.alloc(16))).toThrow(/32-byte|32 bytes/);
  });

  it('builds and checks claim-check references', async () => {
    const env = encodeBatch(base, extents, key);
    const h = peekHeader(env);
    const ref = makeBatchRef(h, env);
    expect(ref.blob).toBe(`in-m-1/m-1/d-1-1-7-${h.nonce}`);
    const parsed = parseBatchRef(Buffer.from(JSON.stringify(ref)));
    expect(parsed).toEqual(ref);
    expect(() => verifyClaimedEnvelope(parsed, env, h)).not.toThrow();
    const other = encodeBatch({ ...base, seq: 8 }, extents, key);
    expect(() => verifyClaimedEnvelope(parsed, other, peekHeader(other))).toThrow(/does not match/);
    expect(() => parseBatchRef(JSON.stringify({ ...ref, blob: 'in-m-1/other/x' }))).toThrow(
      /under in-m-1\/m-1\//,
    );
    // Another machine's container, even with this machine's name prefix.
    expect(() => parseBatchRef(JSON.stringify({ ...ref, blob: 'in-m-2/m-1/x' }))).toThrow(
      /under in-m-1\/m-1\//,
    );
  });
});
