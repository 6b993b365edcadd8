import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BATCH_MAGIC, decodeBatch, type BatchHeader } from '../../../core/batch';
import { HavenError } from '../../../core/errors';

/**
 * Decompression bombs: an enrolled machine seals, with its own valid key, an extent that
 * expands far beyond what its header says. Decoding must refuse it as an integrity failure
 * while memory stays flat (the old path allocated what the frame declared, or streamed without
 * a cap, and crashed the ingest worker on every redelivery).
 */
const key = randomBytes(32);
const GiB = 1024 ** 3;

/** A zstd frame: magic, descriptor, [window], [content size], then RLE blocks of `blockBytes`. */
function zstdRleFrame(opts: { blocks: number; blockBytes: number; declared?: number }): Buffer {
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd])];
  if (opts.declared !== undefined) {
    parts.push(Buffer.from([0xc0])); // FCS field 8 bytes, single segment off
    parts.push(Buffer.from([0x58])); // window descriptor: 2^(10+11) = 2 MiB
    const fcs = Buffer.alloc(8);
    fcs.writeBigUInt64LE(BigInt(opts.declared));
    parts.push(fcs);
  } else {
    parts.push(Buffer.from([0x00, 0x58])); // no content size; window 2 MiB
  }
  for (let i = 0; i < opts.blocks; i++) {
    const last = i === opts.blocks - 1 ? 1 : 0;
    const h = last | (1 << 1) | (opts.blockBytes << 3); // RLE block
    parts.push(Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, 0x41]));
  }
  return Buffer.concat(parts);
}

/** Seals `payload` as the one data extent of a batch whose header says `length` plain bytes. */
function seal(payload: Buffer, length: number, codec: 'zstd' | 'lz4'): Buffer {
  const nonce = randomBytes(12);
  const header: BatchHeader = {
    v: 1,
    machineId: 'm1',
    diskId: 'd1',
    generation: 1,
    seq: 1,
    diskSize: 64 * 1024 * 1024,
    extents: [
      {
        offset: 0,
        length,
        kind: 'data',
        sha256: '0'.repeat(64),
        codec,
        at: 0,
        encodedLength: payload.length,
      },
    ],
    cipher: 'aes-256-gcm',
    keyId: 'k1',
    nonce: nonce.toString('hex'),
  };
  const hb = Buffer.from(JSON.stringify(header));
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  c.setAAD(hb);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(hb.length);
  return Buffer.concat([BATCH_MAGIC, len, hb, c.update(payload), c.final(), c.getAuthTag()]);
}

async function refusedWithFlatMemory(envelope: Buffer): Promise<HavenError> {
  global.gc?.();
  const before = process.memoryUsage().rss;
  const err = await decodeBatch(envelope, async () => key).then(
    () => undefined,
    (e: unknown) => e,
  );
  const grew = process.memoryUsage().rss - before;
  expect(err).toBeInstanceOf(HavenError);
  expect((err as HavenError).kind).toBe('integrity');
  expect(grew).toBeLessThan(200 * 1024 * 1024);
  return err as HavenError;
}

describe('decompression bombs', () => {
  it('a small zstd frame that declares 4 GiB is refused before any decompression', async () => {
    const frame = zstdRleFrame({ blocks: 80, blockBytes: 128 * 1024, declared: 4 * GiB });
    expect(frame.length).toBeLessThan(1024);
    const e = await refusedWithFlatMemory(seal(frame, 1024 * 1024, 'zstd'));
    expect(e.message).toMatch(/declares 4294967296 bytes/);
  });

  it('a zstd frame without a declared size that really expands to 4 GiB stops at the header length', async () => {
    const frame = zstdRleFrame({ blocks: 32768, blockBytes: 128 * 1024 });
    expect(frame.length).toBeLessThan(200 * 1024); // 4 GiB of output in ~128 KiB
    const e = await refusedWithFlatMemory(seal(frame, 1024 * 1024, 'zstd'));
    expect(e.message).toMatch(/does not decompress within 1048576 bytes/);
  });

  it('an lz4 extent whose size prefix says 4 GiB is refused', async () => {
    const bomb = Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), randomBytes(10 * 1024)]);
    await refusedWithFlatMemory(seal(bomb, 1024 * 1024, 'lz4'));
  });
});
