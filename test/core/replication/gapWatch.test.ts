import { describe, expect, it } from 'vitest';
import { GAP_GRACE_MS, stopLostBatches } from '../../../core/replication/gapWatch';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvent } from '../../../core/replication/ingest';
import { ingestEvents } from '../../../core/replication/ingestEvents';
import { stagingBlobName } from '../../../core/replication/names';
import { data, harness, watermark, type Harness, type TestDisk } from './support';

const MiB = 1024 * 1024;
const MINUTE = 60_000;

async function setup() {
  let now = Date.parse('2030-01-01T00:00:00Z');
  const h = await harness('memory', () => now);
  const m = h.addMachine({ d0: 1 * MiB });
  const d = m.disks[0]!;
  const batches = [1, 2, 3, 4, 5].map((i) => d.batch([data(i * 4096, 4096, i)]));
  return { h, m, d, batches, later: (ms: number) => void (now += ms) };
}

/** One ingest invocation, as the Event Hubs trigger runs it. */
async function ingest(h: Harness, d: TestDisk, envs: Buffer[]) {
  const events = envs.map((body) => ({ body, partitionKey: d.machine.machineId }));
  for (const o of await ingestEvents(h.deps, h.opts, events)) expect(o.status).toBe('staged');
}

const frontier = async (h: Harness, machineId: string) =>
  (await h.deps.docs.frontiers.query({ partitionKey: machineId })).items[0]!.doc;

describe('a batch that never arrives', () => {
  it('stops its generation once the frontier has waited the grace for it, with a replication-gap alert', async () => {
    const { h, m, d, batches, later } = await setup();
    await ingest(h, d, [batches[0]!, batches[2]!, batches[3]!]); // 2 is lost
    expect((await frontier(h, m.machineId)).gap).toMatchObject({ seq: 2 });
    later(GAP_GRACE_MS - MINUTE);
    expect(await stopLostBatches(h.deps, m.machineId)).toEqual([]);
    later(2 * MINUTE);
    expect(await stopLostBatches(h.deps, m.machineId)).toEqual([
      { machineId: m.machineId, diskId: 'd0', generation: 1, missingSeq: 2, stagedUpTo: 4 },
    ]);
    expect((await watermark(h, d))?.stopped).toMatchObject({ seq: 2 });
    const alerts = (await h.deps.docs.alerts.query({ partitionKey: m.machineId })).items;
    expect(alerts.map((a) => a.doc)).toEqual([
      expect.objectContaining({
        kind: 'replication-gap',
        severity: 'critical',
        seq: 2,
        details: expect.objectContaining({ missingSeq: 2, stagedUpTo: 4 }),
      }),
    ]);
    // Stopped once: the next run leaves it (the automatic resync takes it from there).
    expect(await stopLostBatches(h.deps, m.machineId)).toEqual([]);
  });

  it('a late batch inside the grace closes the gap; a new gap is timed from when it opens', async () => {
    const { h, m, d, batches, later } = await setup();
    await ingest(h, d, [batches[0]!, batches[2]!]);
    later(10 * MINUTE);
    await ingest(h, d, [batches[1]!]); // late, not lost
    expect((await frontier(h, m.machineId)).gap).toBeUndefined();
    await ingest(h, d, [batches[4]!]); // 4 is missing now
    expect((await frontier(h, m.machineId)).gap?.seq).toBe(4);
    later(GAP_GRACE_MS - MINUTE); // 24 minutes after the first gap opened
    expect(await stopLostBatches(h.deps, m.machineId)).toEqual([]);
    expect((await watermark(h, d))?.stopped).toBeUndefined();
  });

  it('a batch staged by an invocation that died before recording it is not lost', async () => {
    const { h, m, d, batches, later } = await setup();
    await ingest(h, d, [batches[0]!, batches[2]!]);
    // Seq 2 staged, its durability step never run, nothing ingested after it: the frontier
    // still says it waits for 2.
    expect(
      (await ingestEvent(h.deps, h.opts, { body: batches[1]!, partitionKey: m.machineId })).status,
    ).toBe('staged');
    expect((await frontier(h, m.machineId)).gap?.seq).toBe(2);
    later(GAP_GRACE_MS + MINUTE);
    expect(await stopLostBatches(h.deps, m.machineId)).toEqual([]);
    // Applied (its staged blob gone) it is not lost either.
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect((await watermark(h, d))?.appliedSeq).toBe(3);
    expect(await stopLostBatches(h.deps, m.machineId)).toEqual([]);
    expect((await watermark(h, d))?.stopped).toBeUndefined();
  });

  it('a generation the control plane has moved past is left alone', async () => {
    const { h, m, d, batches, later } = await setup();
    await ingest(h, d, [batches[0]!, batches[2]!]);
    h.directory.machines.get(m.machineId)!.disks[0]!.generation = 2; // an operator resynced
    later(GAP_GRACE_MS + MINUTE);
    expect(await stopLostBatches(h.deps, m.machineId)).toEqual([]);
  });
});
