import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeBatch, peekHeader } from '../../core/batch';
import { Batcher } from '../../edge-agent/batcher';
import type { ChangeRecord } from '../../edge-agent/changeSource';
import { inlineEncoder, type BatchEncoder } from '../../edge-agent/encodePool';
import { Spool } from '../../edge-agent/spool';
import { fakeDisk, fakeSource } from './support/batcherFakes';
import { spoolFaults } from './support/faultySpoolSegments';
import { tempDir } from './support/testData';

vi.mock('../../edge-agent/spoolSegments', async (importOriginal) => {
  const { withFaultySegments } = await import('./support/faultySpoolSegments.js');
  return withFaultySegments(await importOriginal());
});

const MiB = 1024 * 1024;
const KiB = 1024;
const key = randomBytes(32);
const ident = { machineId: 'm', keyId: 'k', key };

/** 40 writes of 1 MiB, each its own bytes, going backwards every 10 (several batches). */
function writes(): (ChangeRecord & { kind: 'extent' })[] {
  return Array.from({ length: 40 }, (_, i) => ({
    kind: 'extent' as const,
    pos: i + 1,
    diskId: 'd0',
    offset: ((i * 7) % 10) * MiB + Math.floor(i / 10) * 3 * MiB,
    length: MiB,
    data: randomBytes(MiB),
  }));
}

/** What the disk looks like after these writes, in order. */
function applied(size: number, recs: { offset: number; data?: Buffer }[]): Buffer {
  const img = Buffer.alloc(size);
  for (const r of recs) r.data?.copy(img, r.offset);
  return img;
}

/** The spool's entries of one disk, decoded in seq order: seqs must be dense from 1. */
async function replaySpool(spool: Spool, diskId: string, size: number) {
  const entries = spool.pending().filter((e) => e.diskId === diskId);
  const img = Buffer.alloc(size);
  const bookmarks: string[] = [];
  for (const [i, e] of entries.entries()) {
    expect(e.seq).toBe(i + 1);
    const env = await spool.read(e);
    const h = peekHeader(env);
    if (h.bookmark) bookmarks.push(h.bookmark.id);
    for (const x of (await decodeBatch(env, () => key)).extents)
      if (x.kind === 'data') x.data.copy(img, x.offset);
  }
  return { img, bookmarks };
}

describe('a spool write that fails', { timeout: 120_000 }, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('spool-fault');
  });
  afterAll(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('takes nothing, and leaves no torn bytes behind the records written after it', async () => {
    const d = path.join(dir, 'spool');
    const k = { diskId: 'd0', generation: 1 };
    const s = await Spool.open(d, { maxBytes: 64 * MiB, segmentBytes: MiB });
    const bodies = [randomBytes(100 * KiB), randomBytes(10 * KiB), randomBytes(950 * KiB)];
    await s.append({ ...k, seq: 1 }, bodies[0]!);
    Object.assign(spoolFaults, { writes: 1, partial: 0.9 });
    await expect(s.append({ ...k, seq: 2 }, randomBytes(600 * KiB))).rejects.toThrow(/ENOSPC/);
    expect(spoolFaults.failed).toBe(1);
    expect(s.nextSeq(k)).toBe(2);
    // Shorter than the failed write, then one that rolls to the next segment.
    await s.append({ ...k, seq: 2 }, bodies[1]!);
    await s.append({ ...k, seq: 3 }, bodies[2]!);
    expect((await fsp.readdir(d)).filter((f) => f.startsWith('seg-'))).toHaveLength(2);
    await s.close();
    const again = await Spool.open(d, { maxBytes: 64 * MiB, segmentBytes: MiB });
    const got = again.pending();
    expect(got.map((e) => e.seq)).toEqual([1, 2, 3]);
    for (const [i, e] of got.entries()) expect((await again.read(e)).equals(bodies[i]!)).toBe(true);
    await again.close();
  });

  it('a segment whose creation failed half-way is not tried again: the next append goes on', async () => {
    const d = path.join(dir, 'create');
    const k = { diskId: 'd0', generation: 1 };
    const s = await Spool.open(d, { maxBytes: 64 * MiB, segmentBytes: MiB });
    Object.assign(spoolFaults, { creates: 1, failed: 0 });
    await expect(s.append({ ...k, seq: 1 }, randomBytes(KiB))).rejects.toThrow(/EIO/);
    expect(spoolFaults.failed).toBe(1);
    const body = randomBytes(KiB);
    await s.append({ ...k, seq: 1 }, body);
    await s.close();
    const again = await Spool.open(d, { maxBytes: 64 * MiB, segmentBytes: MiB });
    const got = again.pending();
    expect(got.map((e) => e.seq)).toEqual([1]);
    expect((await again.read(got[0]!)).equals(body)).toBe(true);
    await again.close();
  });

  it('the batcher, once reset, spools what the source hands again: dense seqs, every write once in order', async () => {
    const spool = await Spool.open(path.join(dir, 'batcher'), { maxBytes: 1024 * MiB });
    const { source, committed } = fakeSource();
    const batcher = new Batcher(spool, source, new Map([['d0', fakeDisk(64 * MiB)]]), ident);
    const recs = writes();
    Object.assign(spoolFaults, { writes: 1, partial: 0.5, failed: 0 });
    // The fault lands on the first write; the loop fails at the next wait for the spool.
    const failed = await (async () => {
      for (const r of recs) await batcher.add(r);
      await batcher.flushAll();
    })().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(failed?.message).toMatch(/ENOSPC/);
    // Without a reset, the failed batch stays in flight: the next batch fails too.
    await expect(batcher.flushAll()).rejects.toThrow();
    await batcher.reset();
    // The source rewinds: every record after the committed position comes again, at new positions.
    const upTo = Math.max(0, ...committed);
    let pos = recs.length;
    for (const r of recs.slice(upTo)) await batcher.add({ ...r, pos: ++pos });
    await batcher.flushAll();
    const { img } = await replaySpool(spool, 'd0', 64 * MiB);
    expect(img.equals(applied(64 * MiB, recs))).toBe(true);
    expect(committed.at(-1)).toBe(pos);
    await spool.close();
  });

  it('a bookmark spooled for some disks before the failure is spooled once per disk', async () => {
    const spool = await Spool.open(path.join(dir, 'bookmark'), { maxBytes: 1024 * MiB });
    const { source } = fakeSource();
    const disks = new Map([
      ['d0', fakeDisk(16 * MiB)],
      ['d1', { ...fakeDisk(16 * MiB), id: 'd1' }],
    ]);
    // The write of d1's bookmark fails, after d0's was taken.
    const encoder: BatchEncoder = {
      encode: (input, extents, k) => {
        if (input.bookmark && input.diskId === 'd1' && spoolFaults.failed === 0)
          spoolFaults.writes = 1;
        return inlineEncoder.encode(input, extents, k);
      },
      close: async () => undefined,
    };
    spoolFaults.failed = 0;
    const batcher = new Batcher(spool, source, disks, ident, undefined, encoder);
    const data = randomBytes(MiB);
    const bookmark = (pos: number): ChangeRecord => ({
      kind: 'bookmark',
      pos,
      id: 'bm-1',
      consistency: 'crash',
      createdAt: new Date().toISOString(),
    });
    for (const diskId of ['d0', 'd1'])
      await batcher.add({
        kind: 'extent',
        pos: diskId === 'd0' ? 1 : 2,
        diskId,
        offset: 0,
        length: MiB,
        data,
      });
    await expect(batcher.add(bookmark(3))).rejects.toThrow(/ENOSPC/);
    expect(spoolFaults.failed).toBe(1);
    await batcher.reset();
    expect(await batcher.add(bookmark(4))).toEqual({ bookmark: 'bm-1' });
    for (const diskId of ['d0', 'd1']) {
      const { img, bookmarks } = await replaySpool(spool, diskId, 16 * MiB);
      expect(bookmarks).toEqual(['bm-1']);
      expect(img.subarray(0, MiB).equals(data)).toBe(true);
    }
    await spool.close();
  });
});
