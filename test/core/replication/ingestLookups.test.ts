import { describe, expect, it, vi } from 'vitest';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvents } from '../../../core/replication/ingestEvents';
import { REPLICAS, replicaBlobName, stagingBlobName } from '../../../core/replication/names';
import { data, harness } from './support';

describe('ingest: reads shared by one invocation', () => {
  it('one machine and one watermark lookup per disk, however many events', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 1024 * 1024, d1: 1024 * 1024 });
    const events = m.disks.flatMap((d) =>
      [1, 2, 3, 4, 5].map((i) => ({
        body: d.batch([data(i * 4096, 4096, i)]),
        partitionKey: m.machineId,
      })),
    );
    const query = vi.spyOn(h.deps.docs.disks, 'query');
    const getMachine = vi.spyOn(h.deps.machines, 'getMachine');
    const out = await ingestEvents(h.deps, h.opts, events);
    expect(out.map((o) => o.status)).toEqual(Array(10).fill('staged'));
    expect(query).toHaveBeenCalledTimes(2);
    expect(getMachine).toHaveBeenCalledTimes(1);
    vi.restoreAllMocks();
    // The hydrate trigger is told once per disk, about the newest batch (a drain takes them all);
    // the disks are told in parallel, so in any order.
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect([...h.events.events].sort(byName)).toEqual(
      m.disks
        .map((d) => ({
          container: 'staging',
          name: stagingBlobName(m.machineId, d.diskId, 1, 5),
        }))
        .sort(byName),
    );
    // The same events again (an at-least-once redelivery) after they were applied: the fresh
    // invocation sees the new watermark and calls them duplicates.
    for (const d of m.disks)
      await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    const again = await ingestEvents(h.deps, h.opts, events);
    expect(again.map((o) => o.status)).toEqual(Array(10).fill('duplicate'));
    for (const d of m.disks) {
      const replica = await h.blobs.readRange(
        REPLICAS,
        replicaBlobName(m.machineId, d.diskId, 1),
        0,
        d.size,
      );
      expect(replica.equals(d.image)).toBe(true);
    }
  });
});
