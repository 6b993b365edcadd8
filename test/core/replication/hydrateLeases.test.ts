import { describe, expect, it, vi } from 'vitest';
import { hydrateStaged } from '../../../core/replication/hydrate';
import {
  REPLICA_INDEX,
  indexBlobName,
  REPLICAS,
  replicaBlobName,
  stagingBlobName,
} from '../../../core/replication/names';
import { bookmark, data, harness, replicaBytes, send, watermark } from './support';

const MiB = 1024 * 1024;

describe('hydrate: leases', () => {
  it('two hydrators at once: the lease lets one write; the result is exact', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 4 * MiB });
    const d = m.disks[0]!;
    for (let i = 0; i < 12; i++)
      await send(h, d, d.batch([data((i * 197 * 512) % (3 * MiB), 96 * 1024)]));
    const names = [1, 5, 12, 7].map((s) => stagingBlobName(m.machineId, d.diskId, 1, s));
    const results = await Promise.all(names.map((n) => hydrateStaged(h.deps, h.opts, n)));
    expect(results.reduce((n, r) => n + r.applied, 0)).toBe(12);
    expect(results.some((r) => r.status === 'busy')).toBe(true);
    expect((await watermark(h, d))?.appliedSeq).toBe(12);
    expect((await watermark(h, d))?.batchesApplied).toBe(12);
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
  });

  it('a batch staged while another hydrator holds the lease is drained by the holder', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 512, 1)]));
    const second = d.batch([data(512, 512, 2)]);
    // Stage seq 2 while the first hydrator is in the middle of applying seq 1.
    const upload = h.blobs.uploadPages.bind(h.blobs);
    let staged = false;
    h.blobs.uploadPages = async (...args) => {
      if (!staged && args[0] === REPLICAS && args[2] < d.size) {
        staged = true;
        await send(h, d, second);
        const other = await hydrateStaged(
          h.deps,
          h.opts,
          stagingBlobName(m.machineId, d.diskId, 1, 2),
        );
        expect(other.status).toBe('busy');
      }
      return upload(...args);
    };
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(r.appliedSeq).toBe(2);
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
  });

  it('a hydrator that loses its lease writes neither pages nor digests; the new holder is exact', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 128 * 1024, 1)]));
    await send(h, d, d.batch([data(64 * 1024, 512, 2)], bookmark('lp')));
    const replica = replicaBlobName(m.machineId, d.diskId, 1);
    const index = indexBlobName(m.machineId, d.diskId, 1);
    const upload = h.blobs.uploadPages.bind(h.blobs);
    let stolen: string | undefined;
    let taking: Promise<void> | undefined;
    h.blobs.uploadPages = async (...args) => {
      if (args[0] === REPLICA_INDEX) {
        // Another hydrator takes over between our page writes and our index writes.
        taking ??= takeOver();
        await taking;
      }
      return upload(...args);
    };
    const takeOver = async () => {
      await h.blobs.breakLease(REPLICAS, replica, 0);
      stolen = await h.blobs.acquireLease(REPLICAS, replica, 30);
      await h.blobs.breakLease(REPLICA_INDEX, index, 0);
      await h.blobs.acquireLease(REPLICA_INDEX, index, 30, stolen);
    };
    await expect(
      hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1)),
    ).rejects.toMatchObject({
      kind: 'conflict',
    });
    expect((await watermark(h, d))?.appliedSeq).toBe(0);
    expect((await h.blobs.readRange(REPLICA_INDEX, index, 0, 512)).every((b) => b === 0)).toBe(
      true,
    );
    // While the intruder holds the lease, nobody else writes.
    expect(
      (await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1))).status,
    ).toBe('busy');
    await h.blobs.releaseLease(REPLICA_INDEX, index, stolen!);
    await h.blobs.releaseLease(REPLICAS, replica, stolen!);
    h.blobs.uploadPages = upload;
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(r, JSON.stringify(r)).toMatchObject({ appliedSeq: 2, points: ['lp'] });
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
    const p = (await h.deps.docs.points.get(m.machineId, 'lp'))!.doc as {
      disks: { sha256: string }[];
    };
    expect(p.disks[0]!.sha256).toBe(d.digest());
  });

  it('a batch slower than the lease keeps it: renewed in the background, nobody else writes', async () => {
    const h = await harness('memory'); // its leases expire by Date, which the test moves
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 64 * 1024, 1)], bookmark('slow')));
    const opts = { ...h.opts, leaseSeconds: 15 };
    const upload = h.blobs.uploadPages.bind(h.blobs);
    let reached!: () => void;
    const atWrite = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let gated = false;
    h.blobs.uploadPages = async (...args) => {
      if (args[0] === REPLICAS && args[2] === 0 && !gated) {
        gated = true; // only the first hydrator's first page write hangs
        reached();
        await gate;
      }
      return upload(...args);
    };
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    try {
      const first = hydrateStaged(h.deps, opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
      await atWrite;
      await vi.advanceTimersByTimeAsync(40_000); // well past the 15 s lease
      const second = await hydrateStaged(
        h.deps,
        opts,
        stagingBlobName(m.machineId, d.diskId, 1, 1),
      );
      expect(second.status).toBe('busy');
      release();
      expect(await first).toMatchObject({ status: 'drained', appliedSeq: 1, points: ['slow'] });
    } finally {
      vi.useRealTimers();
      h.blobs.uploadPages = upload;
    }
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
  });

  it('a stale index lease left by a crashed holder is broken by the replica lease holder', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 4096, 3)]));
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    // The crashed holder's replica lease is gone, its index lease is not (yet).
    await h.blobs.acquireLease(REPLICA_INDEX, indexBlobName(m.machineId, d.diskId, 1), 60);
    await send(h, d, d.batch([data(4096, 4096, 4)]));
    const r = await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 2));
    expect(r).toMatchObject({ status: 'drained', appliedSeq: 2 });
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
  });
});
