import { describe, expect, it } from 'vitest';
import { DrainCoalescer } from '../../../core/replication/drainCoalescer';
import { hydrateStaged, type HydrateOutcome } from '../../../core/replication/hydrate';
import {
  REPLICAS,
  STAGING,
  parseStagingName,
  stagingBlobName,
} from '../../../core/replication/names';
import { data, harness, replicaBytes, send, watermark, type Harness } from './support';

const MiB = 1024 * 1024;

/** What the hydrate trigger does with a staged name: drain its disk through the coalescer. */
function trigger(h: Harness, drains: DrainCoalescer<HydrateOutcome>, name: string) {
  return drains.run(parseStagingName(name), (joined) =>
    hydrateStaged(h.deps, h.opts, name, undefined, joined),
  );
}

/** Counts replica HEADs (what a trigger pays to learn the replica is leased). */
function countReplicaHeads(h: Harness): { n: number } {
  const count = { n: 0 };
  const get = h.blobs.getProperties.bind(h.blobs);
  h.blobs.getProperties = (container, ...rest) => {
    if (container === REPLICAS) count.n++;
    return get(container, ...rest);
  };
  return count;
}

describe('hydrate: one drain per disk in a process', () => {
  it('triggers during a drain join it and return: no request of their own, every batch applied exactly', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 4 * MiB });
    const d = m.disks[0]!;
    for (let i = 0; i < 6; i++) await send(h, d, d.batch([data(i * 300 * 1024, 64 * 1024)]));
    const names = [1, 2, 3, 4, 5, 6].map((s) => stagingBlobName(m.machineId, d.diskId, 1, s));
    const heads = countReplicaHeads(h);
    const drains = new DrainCoalescer<HydrateOutcome>();
    const results = await Promise.all(names.map((n) => trigger(h, drains, n)));
    expect(results.map((r) => r.joined)).toEqual([false, true, true, true, true, true]);
    expect(heads.n).toBe(1);
    expect(!results[0]!.joined && results[0]!.outcome.appliedSeq).toBe(6);
    expect((await watermark(h, d))?.batchesApplied).toBe(6);
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
  });

  it('a trigger that joins after the last look is looked for: its batch is applied by the same drain', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    await send(h, d, d.batch([data(0, 4096, 1)]));
    const second = d.batch([data(8192, 4096, 2)]);
    const name2 = stagingBlobName(m.machineId, d.diskId, 1, 2);
    const drains = new DrainCoalescer<HydrateOutcome>();
    const get = h.blobs.getProperties.bind(h.blobs);
    let late: Promise<{ joined: boolean }> | undefined;
    h.blobs.getProperties = async (container, name, ...rest) => {
      const found = await get(container, name, ...rest);
      if (container === STAGING && name === name2 && !found && !late) {
        // Seq 2 is staged and its trigger fires right after the drain found nothing there.
        await send(h, d, second);
        late = trigger(h, drains, name2);
      }
      return found;
    };
    const first = await trigger(h, drains, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(!first.joined && first.outcome.appliedSeq).toBe(2);
    expect((await late)?.joined).toBe(true);
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
  });

  it('a trigger after a drain ended, or for another disk, runs a drain of its own', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 1 * MiB, d1: 1 * MiB });
    const [d0, d1] = m.disks as [(typeof m.disks)[0], (typeof m.disks)[0]];
    const drains = new DrainCoalescer<HydrateOutcome>();
    await send(h, d0, d0.batch([data(0, 4096, 1)]));
    await send(h, d1, d1.batch([data(0, 4096, 2)]));
    const both = await Promise.all([
      trigger(h, drains, stagingBlobName(m.machineId, d0.diskId, 1, 1)),
      trigger(h, drains, stagingBlobName(m.machineId, d1.diskId, 1, 1)),
    ]);
    expect(both.map((r) => !r.joined && r.outcome.appliedSeq)).toEqual([1, 1]);
    await send(h, d0, d0.batch([data(4096, 4096, 3)]));
    const later = await trigger(h, drains, stagingBlobName(m.machineId, d0.diskId, 1, 2));
    expect(!later.joined && later.outcome.appliedSeq).toBe(2);
    expect((await replicaBytes(h, d0)).equals(d0.image)).toBe(true);
    expect((await replicaBytes(h, d1)).equals(d1.image)).toBe(true);
  });

  it('a trigger after the drain answered "nobody joined" runs its own drain, even before that drain settles', async () => {
    const drains = new DrainCoalescer<string>();
    const key = { machineId: 'm', diskId: 'd0', generation: 1 };
    let second: ReturnType<typeof drains.run> | undefined;
    const first = drains.run(key, async (joined) => {
      expect(joined()).toBe(false);
      // The drain is ending: a trigger arriving now must not wait on it to look again.
      second = drains.run(key, () => Promise.resolve('second'));
      await Promise.resolve();
      return 'first';
    });
    expect(await first).toEqual({ outcome: 'first', joined: false });
    expect(await second).toEqual({ outcome: 'second', joined: false });
  });
});
