import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DecodedExtent } from '../../../core/batch';
import { SUB_BLOCK, subDigest } from '../../../core/disk/digest';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvent } from '../../../core/replication/ingest';
import { REPLICAS, replicaBlobName, stagingBlobName } from '../../../core/replication/names';
import { mergeBatches, writtenSubDigests } from '../../../core/replication/pageWrites';
import { getRecoveryPoint } from '../../../core/replication/recoveryPoints';
import { bookmark, data, harness, replicaBytes, zero } from './support';

const MiB = 1024 * 1024;
const SECTOR = 512;

/** Random overlapping extents, 512-aligned (sectors, not only 4 KiB blocks), some zero ranges. */
function randomBatch(size: number): DecodedExtent[] {
  return Array.from({ length: 1 + randomInt(12) }, () => {
    const length = Math.min(size, SECTOR * (1 + randomInt(randomInt(4) === 0 ? 4096 : 64)));
    const offset = SECTOR * randomInt((size - length) / SECTOR + 1);
    return randomInt(5) === 0
      ? { kind: 'zero' as const, offset, length }
      : { kind: 'data' as const, offset, length, data: randomBytes(length) };
  });
}

const dataExtent = (offset: number, length: number): DecodedExtent => ({
  kind: 'data',
  offset,
  length,
  data: randomBytes(length),
});

function applyInOrder(image: Buffer, extents: readonly DecodedExtent[]): void {
  for (const e of extents) {
    if (e.kind === 'data') e.data.copy(image, e.offset);
    else image.fill(0, e.offset, e.offset + e.length);
  }
}

describe('merging waiting batches', () => {
  it('property: merged apply equals sequential apply, byte for byte, with disjoint sorted extents ≤ 4 MiB', () => {
    for (let round = 0; round < 150; round++) {
      // Up to 9 MiB (merged writes cap at 4 MiB), not 4 KiB-aligned.
      const size = SECTOR * (64 + randomInt(randomInt(4) === 0 ? 18 * 1024 : 2048));
      const base = randomBytes(size);
      const batches = Array.from({ length: 1 + randomInt(20) }, () => ({
        extents: randomBatch(size),
      }));
      const sequential = Buffer.from(base);
      for (const b of batches) applyInOrder(sequential, b.extents);
      const merged = mergeBatches(batches);
      const once = Buffer.from(base);
      applyInOrder(once, merged);
      expect(once.equals(sequential), `round ${round}`).toBe(true);
      for (let i = 0; i < merged.length; i++) {
        const e = merged[i]!;
        expect(e.length).toBeLessThanOrEqual(4 * MiB);
        if (e.kind === 'data') expect(e.data.length).toBe(e.length);
        if (i > 0) {
          const p = merged[i - 1]!;
          expect(p.offset + p.length).toBeLessThanOrEqual(e.offset);
          // Adjacent runs of one kind are joined (unless a 4 MiB write is full).
          if (p.offset + p.length === e.offset && p.kind === e.kind && p.kind === 'zero')
            throw new Error(`adjacent zero ranges left apart in round ${round}`);
        }
      }
    }
  });

  it('sub-block digests come from the written bytes; only partly written sub-blocks are read back', async () => {
    const h = await harness('memory');
    const size = 2 * MiB + 3 * SECTOR; // a short last sub-block
    const name = replicaBlobName('m', 'd', 1);
    await h.blobs.ensureContainer(REPLICAS);
    await h.blobs.createPageBlob(REPLICAS, name, 3 * MiB);
    const image = randomBytes(size);
    await h.blobs.uploadPages(
      REPLICAS,
      name,
      0,
      Buffer.concat([image, Buffer.alloc(3 * MiB - size)]),
    );
    const merged = mergeBatches(Array.from({ length: 8 }, () => ({ extents: randomBatch(size) })));
    applyInOrder(image, merged);
    for (const e of merged) {
      if (e.kind === 'data') await h.blobs.uploadPages(REPLICAS, name, e.offset, e.data);
      else await h.blobs.clearPages(REPLICAS, name, e.offset, e.length);
    }
    const count = { pageWrites: 0, clears: 0, readBacks: 0 };
    const subs = await writtenSubDigests(h.deps, name, size, merged, count);
    const touched = new Set<number>();
    let partial = 0;
    for (const e of merged) {
      const end = Math.min(e.offset + e.length, size);
      for (let s = Math.floor(e.offset / SUB_BLOCK); s * SUB_BLOCK < end; s++) {
        touched.add(s);
        const ss = s * SUB_BLOCK;
        if (e.offset > ss || end < Math.min(ss + SUB_BLOCK, size)) partial++;
      }
    }
    expect([...subs.keys()].sort((a, z) => a - z)).toEqual([...touched].sort((a, z) => a - z));
    for (const [s, d] of subs) {
      const want = subDigest(image.subarray(s * SUB_BLOCK, Math.min((s + 1) * SUB_BLOCK, size)));
      expect(d.equals(want), `sub-block ${s}`).toBe(true);
    }
    if (partial === 0) expect(count.readBacks).toBe(0);
  });

  it('hashes while the page writes are in flight; partly written sub-blocks are read back after them', async () => {
    const h = await harness('memory');
    const size = 1 * MiB;
    const name = replicaBlobName('m', 'd', 1);
    await h.blobs.ensureContainer(REPLICAS);
    await h.blobs.createPageBlob(REPLICAS, name, size);
    const image = randomBytes(size);
    await h.blobs.uploadPages(REPLICAS, name, 0, image);
    // One whole sub-block run and one 1 KiB write inside a sub-block (read back for its digest).
    const merged = mergeBatches([
      {
        extents: [
          dataExtent(64 * 1024, 256 * 1024),
          dataExtent(8 * SUB_BLOCK + SECTOR, 2 * SECTOR),
        ],
      },
    ]);
    applyInOrder(image, merged);
    const count = { pageWrites: 0, clears: 0, readBacks: 0 };
    let writesDone = false;
    // The writes land only after the digests of whole sub-blocks could have been read back.
    const written = new Promise<void>((resolve) => setTimeout(resolve, 20)).then(async () => {
      for (const e of merged)
        if (e.kind === 'data') await h.blobs.uploadPages(REPLICAS, name, e.offset, e.data);
      writesDone = true;
    });
    const subs = await writtenSubDigests(h.deps, name, size, merged, count, written);
    expect(writesDone).toBe(true);
    expect(count.readBacks).toBe(1);
    for (const [s, d] of subs) {
      const want = subDigest(image.subarray(s * SUB_BLOCK, (s + 1) * SUB_BLOCK));
      expect(d.equals(want), `sub-block ${s}`).toBe(true);
    }
    expect(subs.size).toBe(64 + 1);
  });

  it('through hydrate: many waiting overlapping batches become few page writes, replica and digest exact', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 4 * MiB });
    const d = m.disks[0]!;
    const n = 40;
    for (let i = 0; i < n; i++) {
      // Random 4–64 KiB writes into 1 MiB (one per half: a batch's extents are disjoint): lots
      // of overlap and adjacency across batches once merged.
      const extents = [0, 512 * 1024].map((half) => {
        const len = 4096 * (1 + randomInt(16));
        return data(half + 4096 * randomInt((512 * 1024 - len) / 4096), len);
      });
      if (i % 7 === 3) extents.push(zero(2 * MiB, 64 * 1024));
      const env = d.batch(extents, i === n - 1 ? bookmark('merged') : undefined);
      expect(
        (await ingestEvent(h.deps, h.opts, { body: env, partitionKey: m.machineId })).status,
      ).toBe('staged');
    }
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, 'd0', 1, 1));
    expect(r).toMatchObject({ status: 'drained', appliedSeq: n, points: ['merged'], groups: 1 });
    expect(r.requests!.readBacks).toBe(0);
    expect(r.requests!.pageWrites).toBeLessThan(2 * n); // fewer writes than the batches hold
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
    const p = await getRecoveryPoint(h.deps, m.machineId, 'merged');
    expect(p.disks[0]!.sha256).toBe(d.digest());
  });
});
