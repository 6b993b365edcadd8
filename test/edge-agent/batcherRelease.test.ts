import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Batcher } from '../../edge-agent/batcher';
import { inlineEncoder, type BatchEncoder } from '../../edge-agent/encodePool';
import { Spool } from '../../edge-agent/spool';
import { fakeDisk, fakeSource } from './support/batcherFakes';
import { tempDir } from './support/testData';

const MiB = 1024 * 1024;

/** 40 records of 1 MiB, each with a release() that notes when it was called. */
function records() {
  const released = new Set<number>();
  const data = randomBytes(MiB);
  const recs = Array.from({ length: 40 }, (_, i) => ({
    kind: 'extent' as const,
    pos: i + 1,
    diskId: 'd0',
    // Backwards every 10 records: several batches.
    offset: ((i * 7) % 10) * MiB + Math.floor(i / 10) * 16 * MiB,
    length: MiB,
    data,
    release: () => {
      expect(released.has(i)).toBe(false); // once
      released.add(i);
    },
  }));
  return { recs, released };
}

describe('the batcher hands record memory back', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('batcher-release');
  });
  afterAll(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('releases each record once its batch was sealed, never before', async () => {
    const spool = await Spool.open(path.join(dir, 'roomy'), { maxBytes: 1024 * MiB });
    const { source } = fakeSource();
    const { recs, released } = records();
    let sealedUpTo = 0;
    const encoder: BatchEncoder = {
      encode: (input, extents, key) => {
        // Every record of this batch (and later) is still held when the encoder reads it.
        for (const r of recs) if (r.pos > sealedUpTo) expect(released.has(r.pos - 1)).toBe(false);
        sealedUpTo += extents.length;
        return inlineEncoder.encode(input, extents, key);
      },
      close: async () => undefined,
    };
    const batcher = new Batcher(
      spool,
      source,
      new Map([['d0', fakeDisk(64 * MiB)]]),
      { machineId: 'm', keyId: 'k', key: randomBytes(32) },
      undefined,
      encoder,
    );
    for (const r of recs) await batcher.add(r);
    expect(released.size).toBeLessThan(40); // the open batch holds the last ones
    await batcher.flushAll();
    expect(released.size).toBe(40);
    expect(batcher.stats.batches).toBeGreaterThan(3);
    await spool.close();
  });

  it('releases the records of a batch the full spool did not take', async () => {
    const spool = await Spool.open(path.join(dir, 'full'), { maxBytes: 8 * MiB });
    const invalidated: number[] = [];
    const { source } = fakeSource();
    Object.assign(source, {
      invalidate: (_d: string, offset: number) => void invalidated.push(offset),
    });
    const { recs, released } = records();
    const batcher = new Batcher(spool, source, new Map([['d0', fakeDisk(64 * MiB)]]), {
      machineId: 'm',
      keyId: 'k',
      key: randomBytes(32),
    });
    for (const r of recs) await batcher.add(r);
    await batcher.flushAll();
    expect(batcher.stats.droppedBatches).toBeGreaterThan(0);
    expect(invalidated.length).toBeGreaterThan(0);
    expect(released.size).toBe(40);
    await spool.close();
  });
});
