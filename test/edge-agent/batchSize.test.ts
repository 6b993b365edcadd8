import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_BYTES, peekHeader } from '../../core/batch';
import { Batcher } from '../../edge-agent/batcher';
import { Spool } from '../../edge-agent/spool';
import { fakeDisk, fakeSource } from './support/batcherFakes';
import { tempDir } from './support/testData';

const MiB = 1024 * 1024;

/** Data bytes of each spooled batch after `total` bytes of contiguous 4 MiB writes (a scan's reads). */
async function batchSizes(dir: string, spoolBytes: number, total = 40 * MiB): Promise<number[]> {
  const disk = fakeDisk(64 * MiB);
  const { source } = fakeSource();
  const spool = await Spool.open(dir, { maxBytes: spoolBytes });
  const key = randomBytes(32);
  const batcher = new Batcher(spool, source, new Map([[disk.id, disk]]), {
    machineId: 'm',
    keyId: 'k',
    key,
  });
  const data = randomBytes(4 * MiB);
  let pos = 0;
  for (let offset = 0; offset < total; offset += data.length)
    await batcher.add({
      kind: 'extent',
      pos: ++pos,
      diskId: 'd0',
      offset,
      length: data.length,
      data,
    });
  await batcher.flushAll();
  const sizes: number[] = [];
  for (const e of spool.pending()) {
    const h = peekHeader(await spool.read(e));
    sizes.push(h.extents.reduce((n, x) => n + (x.kind === 'data' ? x.length : 0), 0));
  }
  await spool.close();
  return sizes;
}

describe('batch size: as large as the format allows, bounded by the spool', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('batch-size');
  });
  afterAll(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('fills batches up to MAX_BATCH_BYTES with a roomy spool (few batches: few storage requests each)', async () => {
    expect(MAX_BATCH_BYTES).toBe(32 * MiB);
    expect(await batchSizes(path.join(dir, 'big'), 1024 * MiB)).toEqual([32 * MiB, 8 * MiB]);
  });

  it('keeps a batch to an eighth of a small spool, never below 4 MiB', async () => {
    expect(await batchSizes(path.join(dir, 'small'), 64 * MiB)).toEqual(Array(5).fill(8 * MiB));
    expect(await batchSizes(path.join(dir, 'tiny'), 16 * MiB, 8 * MiB)).toEqual([4 * MiB, 4 * MiB]);
  });
});
