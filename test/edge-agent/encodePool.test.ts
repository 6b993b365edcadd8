import { promises as fsp } from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBatch } from '../../core/batch';
import { Batcher } from '../../edge-agent/batcher';
import { EncodePool, encodeThreadsFor } from '../../edge-agent/encodePool';
import { Spool } from '../../edge-agent/spool';
import { fakeDisk, fakeSource } from './support/batcherFakes';
import { tempDir } from './support/testData';

const MiB = 1024 * 1024;

describe('sealing batches on worker threads', { timeout: 120_000 }, () => {
  let dir: string;
  let pool: EncodePool;
  beforeAll(async () => {
    dir = await tempDir('encode-pool');
    pool = new EncodePool(2);
  });
  afterAll(async () => {
    await pool.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('seals on all cores but one, at least one thread and at most four', () => {
    expect([1, 2, 3, 4, 8, 64].map(encodeThreadsFor)).toEqual([1, 1, 2, 3, 4, 4]);
  });

  it('batches sealed in parallel land in the spool in seq order and decode to exactly the writes', async () => {
    const disk = fakeDisk(64 * MiB);
    const key = randomBytes(32);
    const spool = await Spool.open(path.join(dir, 'spool'), { maxBytes: 1024 * MiB });
    const { source, committed } = fakeSource();
    const batcher = new Batcher(
      spool,
      source,
      new Map([[disk.id, disk]]),
      { machineId: 'm', keyId: 'k', key },
      undefined,
      pool,
    );
    // Writes going backwards start new batches: many small batches in flight at once, some
    // overlapping earlier ones (their order is what the replica must honour).
    const image = Buffer.alloc(disk.sizeBytes);
    let pos = 0;
    for (let i = 0; i < 300; i++) {
      const length = 4096 * (1 + randomInt(64));
      const offset = 4096 * randomInt((disk.sizeBytes - length) / 4096);
      const zero = randomInt(8) === 0;
      const data = zero ? undefined : randomBytes(length);
      if (data) data.copy(image, offset);
      else image.fill(0, offset, offset + length);
      await batcher.add({
        kind: 'extent',
        pos: ++pos,
        diskId: 'd0',
        offset,
        length,
        ...(data ? { data } : {}),
      });
    }
    const r = await batcher.add({
      kind: 'bookmark',
      pos: ++pos,
      id: 'b1',
      consistency: 'crash',
      createdAt: new Date().toISOString(),
    });
    expect(r).toEqual({ bookmark: 'b1' });
    // Every position up to the bookmark is committed only once everything before it is durable.
    expect(committed.at(-1)).toBe(pos);
    expect([...committed].sort((a, z) => a - z)).toEqual(committed);

    const entries = spool.pending();
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
    const replay = Buffer.alloc(disk.sizeBytes);
    for (const e of entries) {
      const b = await decodeBatch(await spool.read(e), () => key);
      expect(b.header.seq).toBe(e.seq);
      for (const x of b.extents) {
        if (x.kind === 'data') x.data.copy(replay, x.offset);
        else replay.fill(0, x.offset, x.offset + x.length);
      }
    }
    expect(replay.equals(image)).toBe(true);
    expect(batcher.stats.batches).toBe(entries.length);
    await spool.close();
  });
});
