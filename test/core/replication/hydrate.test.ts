import { describe, expect, it } from 'vitest';
import { hydrateStaged } from '../../../core/replication/hydrate';
import {
  REPLICAS,
  STAGING,
  replicaBlobName,
  replicaBlobSize,
  stagingBlobName,
} from '../../../core/replication/names';
import { isVhdFooter, vhdFooterSize } from '../../../core/replication/vhdFooter';
import { bookmark, data, harness, replicaBytes, send, watermark, zero } from './support';

const MiB = 1024 * 1024;

describe('hydrate: order and merging', () => {
  it('applies batches in order: exact bytes, fixed VHD footer, staged blobs removed', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 3 * MiB + 512 * 7 }); // not a multiple of 64 KiB nor 1 MiB
    const d = m.disks[0]!;
    const envs = [
      d.batch([data(0, 256 * 1024), data(1 * MiB + 1536, 5120)]),
      d.batch([zero(4096, 8192), data(2 * MiB, 64 * 1024, 0xab)]),
      d.batch([data(d.size - 1024, 1024), zero(1 * MiB, 1 * MiB)]),
    ];
    for (const env of envs) expect((await send(h, d, env)).status).toBe('staged');
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(r).toMatchObject({ status: 'drained', appliedSeq: 3, applied: 3 });
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
    const name = replicaBlobName(m.machineId, d.diskId, 1);
    const props = await h.blobs.getProperties(REPLICAS, name);
    expect(props?.size).toBe(replicaBlobSize(d.size));
    expect(props!.size).toBe(4 * MiB + 512);
    const footer = await h.blobs.readRange(REPLICAS, name, props!.size - 512, 512);
    expect(isVhdFooter(footer)).toBe(true);
    expect(vhdFooterSize(footer)).toBe(4 * MiB);
    expect(await h.blobs.list(STAGING, `${m.machineId}/`)).toEqual([]);
    expect((await watermark(h, d))?.appliedSeq).toBe(3);
  });

  it('out of order: a gap waits, the missing batch drains everything', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    const e1 = d.batch([data(0, 8192)]);
    const e2 = d.batch([data(4096, 8192)]);
    const e3 = d.batch([data(65536 - 512, 1024)]);
    await send(h, d, e3);
    await send(h, d, e2);
    let r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 3));
    expect(r).toMatchObject({ status: 'drained', applied: 0, appliedSeq: 0 });
    expect((await h.blobs.list(STAGING, `${m.machineId}/`)).length).toBe(2);
    await send(h, d, e1);
    r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(r).toMatchObject({ status: 'drained', applied: 3, appliedSeq: 3 });
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
  });

  it('merges waiting batches: overlaps resolved by seq order even when page writes finish out of order', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 8 * MiB });
    const d = m.disks[0]!;
    // Page writes finish out of order (random latency): only the hydrator's ordering keeps a
    // later batch's bytes on top of an earlier batch's at the same offsets.
    const upload = h.blobs.uploadPages.bind(h.blobs);
    let maxReplicaWrites = 0;
    let replicaWrites = 0;
    let small = 0;
    h.blobs.uploadPages = async (...args) => {
      if (args[0] !== REPLICAS) return upload(...args);
      maxReplicaWrites = Math.max(maxReplicaWrites, ++replicaWrites);
      // Every other small write is slow, so a batch's write would land after its successor's.
      const slow = args[3].length === 1024 ? small++ % 2 === 0 : false;
      await new Promise((r) => setTimeout(r, slow ? 25 : Math.random() * 5));
      try {
        return await upload(...args);
      } finally {
        replicaWrites--;
      }
    };
    const at = (i: number) => (i % 6) * MiB + (i % 3) * 4096; // batches 6 apart share blocks
    for (let i = 0; i < 48; i++) {
      const extents = [data(at(i), 64 * 1024 + 4096), data(7 * MiB + (i % 2) * 512, 1024)];
      await send(h, d, d.batch(extents, i === 47 ? bookmark('pl') : undefined));
    }
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(r).toMatchObject({ status: 'drained', appliedSeq: 48, points: ['pl'] });
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
    const point = (await h.deps.docs.points.get(m.machineId, 'pl'))!.doc as {
      disks: { sha256: string }[];
    };
    expect(point.disks[0]!.sha256).toBe(d.digest());
    expect(maxReplicaWrites).toBeGreaterThan(1);
  });
});
