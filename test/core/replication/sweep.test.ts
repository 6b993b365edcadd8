import { describe, expect, it } from 'vitest';
import { ingestEvent } from '../../../core/replication/ingest';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { sweepStaged } from '../../../core/replication/sweep';
import {
  REPLICAS,
  STAGING,
  replicaBlobName,
  stagingBlobName,
  stagingPrefix,
} from '../../../core/replication/names';
import { bookmark, data, harness, type Harness, type TestDisk } from './support';

const MiB = 1024 * 1024;

const send = (h: Harness, disk: TestDisk, env: Buffer) =>
  ingestEvent(h.deps, h.opts, { body: env, partitionKey: disk.machine.machineId });

describe('hydrate sweep', () => {
  it('drains batches whose trigger found the replica leased by a hydrator that then died', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 256 * 1024, 3)]));
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    const replica = replicaBlobName(m.machineId, d.diskId, 1);
    // A hydrator takes the lease and dies; the next batch arrives meanwhile.
    const dead = await h.blobs.acquireLease(REPLICAS, replica, 15);
    await send(h, d, d.batch([data(MiB, 4096, 4)], bookmark('sw')));
    const refused = await hydrateStaged(
      h.deps,
      h.opts,
      stagingBlobName(m.machineId, d.diskId, 1, 2),
    );
    expect(refused.status).toBe('busy');
    // Its lease runs out; no blob event is coming any more.
    await h.blobs.releaseLease(REPLICAS, replica, dead!);
    expect(await h.deps.docs.points.get(m.machineId, 'sw')).toBeUndefined();

    // The run's Azurite is shared: other tests' staged batches may be swept too (and fail
    // here, their machines being unknown to this database); ours must not be among them.
    const { failures } = await sweepStaged(h.deps, h.opts);
    expect(failures.filter((f) => f.disk.startsWith(`${m.machineId}/`))).toEqual([]);
    expect(await h.deps.docs.points.get(m.machineId, 'sw')).toBeDefined();
    const bytes = await h.blobs.readRange(REPLICAS, replica, 0, d.size);
    expect(bytes.equals(d.image)).toBe(true);
    expect(await h.blobs.list(STAGING, stagingPrefix(m.machineId))).toEqual([]);
  });
});
