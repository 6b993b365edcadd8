import { describe, expect, it } from 'vitest';
import { incomingContainerOf } from '../../../core/batch';
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
import {
  bookmark,
  data,
  firstBatchApplied,
  harness,
  sendClaimed,
  type Harness,
  type TestDisk,
} from './support';

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

  it('drops the batches a resync left behind in a superseded generation, keeps the live one', async () => {
    const { h, m, d } = await firstBatchApplied(2 * MiB);
    // Generation 1 gets stuck behind a gap: seq 3 is staged (through a claim-check pointer), seq 2 never comes.
    d.batch([data(4096, 4096, 2)], undefined, { apply: false });
    await sendClaimed(h, d.batch([data(8192, 2 * 4096, 3)], undefined, { apply: false }));
    expect(await h.blobs.list(incomingContainerOf(m.machineId), `${m.machineId}/`)).toHaveLength(1); // its payload
    // The operator resyncs: generation 2 replicates and publishes its first point.
    d.generation = 2;
    d.seq = 0;
    await send(h, d, d.batch([data(0, 64 * 1024, 9)], bookmark('g2')));
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 2, 1));
    expect((await h.deps.docs.disks.get(m.machineId, 'd0.g2'))!.doc.complete).toBe(true);
    await send(h, d, d.batch([data(0, 4096, 10)]));

    const { failures } = await sweepStaged(h.deps, h.opts);
    expect(failures.filter((f) => f.disk.startsWith(`${m.machineId}/`))).toEqual([]);
    // Generation 1's leftovers are gone (pointer and payload); generation 2 drained.
    expect(await h.blobs.list(STAGING, stagingPrefix(m.machineId))).toEqual([]);
    expect(await h.blobs.list(incomingContainerOf(m.machineId), `${m.machineId}/`)).toEqual([]);
    expect((await h.deps.docs.disks.get(m.machineId, 'd0.g2'))!.doc.appliedSeq).toBe(2);
  });
});
