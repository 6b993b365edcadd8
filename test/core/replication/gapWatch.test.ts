import { describe, expect, it } from 'vitest';
import { GAP_GRACE_MS, settleGaps } from '../../../core/replication/gapWatch';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvent } from '../../../core/replication/ingest';
import { ingestEvents } from '../../../core/replication/ingestEvents';
import { stagingBlobName } from '../../../core/replication/names';
import { getRecoveryPoint } from '../../../core/replication/recoveryPoints';
import {
  bookmark,
  data,
  harness,
  replicaBytes,
  uploadClaim,
  watermark,
  type Harness,
  type TestDisk,
} from './support';

const MiB = 1024 * 1024;
const MINUTE = 60_000;

/** A machine with the given disks (one 1 MiB disk d0 by default) and a clock the test moves. */
async function fresh(disks: Record<string, number> = { d0: 1 * MiB }) {
  let now = Date.parse('2030-01-01T00:00:00Z');
  const h = await harness('memory', () => now);
  const m = h.addMachine(disks);
  return { h, m, d: m.disks[0]!, later: (ms: number) => void (now += ms) };
}

async function setup() {
  const f = await fresh();
  const batches = [1, 2, 3, 4, 5].map((i) => f.d.batch([data(i * 4096, 4096, i)]));
  return { ...f, batches };
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
    expect(await settleGaps(h.deps, h.opts, m.machineId)).toEqual([]);
    later(2 * MINUTE);
    expect(await settleGaps(h.deps, h.opts, m.machineId)).toEqual([
      {
        machineId: m.machineId,
        diskId: 'd0',
        generation: 1,
        action: 'stopped',
        missingSeq: 2,
        stagedUpTo: 4,
        recovered: [],
      },
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
    expect(await settleGaps(h.deps, h.opts, m.machineId)).toEqual([]);
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
    expect(await settleGaps(h.deps, h.opts, m.machineId)).toEqual([]);
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
    expect(await settleGaps(h.deps, h.opts, m.machineId)).toEqual([]);
    // Applied (its staged blob gone) it is not lost either.
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect((await watermark(h, d))?.appliedSeq).toBe(3);
    expect(await settleGaps(h.deps, h.opts, m.machineId)).toEqual([]);
    expect((await watermark(h, d))?.stopped).toBeUndefined();
  });

  it('a generation the control plane has moved past is left alone', async () => {
    const { h, m, d, batches, later } = await setup();
    await ingest(h, d, [batches[0]!, batches[2]!]);
    h.directory.machines.get(m.machineId)!.disks[0]!.generation = 2; // an operator resynced
    later(GAP_GRACE_MS + MINUTE);
    expect(await settleGaps(h.deps, h.opts, m.machineId)).toEqual([]);
  });
});

describe('a lost event whose claim-check upload is left', () => {
  /** Seq 2 and 3 travel as claim checks whose events never arrive; 4 carries point p. */
  async function lostEvents(third: 'uploaded' | 'inline') {
    const { h, m, d, later } = await fresh();
    const b = [
      d.batch([data(0, 8192, 1)]),
      d.batch([data(64 * 1024, 4096, 2)]),
      d.batch([data(0, 4096, 3)]), // overwrites part of seq 1: order matters
      d.batch([data(128 * 1024, 4096, 4)], bookmark('p')),
    ] as const;
    await uploadClaim(h, b[1]);
    if (third === 'uploaded') await uploadClaim(h, b[2]);
    await ingest(h, d, [b[0], b[3]]);
    expect(await getRecoveryPoint(h.deps, m.machineId, 'p').catch(() => undefined)).toBeUndefined();
    return { h, m, d, later };
  }

  it('is ingested from its upload once the grace is over: the point becomes durable, the replica exact', async () => {
    const { h, m, d, later } = await lostEvents('uploaded');
    later(GAP_GRACE_MS - MINUTE);
    expect(await settleGaps(h.deps, h.opts, m.machineId)).toEqual([]); // may still come
    later(2 * MINUTE);
    expect(await settleGaps(h.deps, h.opts, m.machineId)).toEqual([
      { machineId: m.machineId, diskId: 'd0', generation: 1, action: 'recovered', seqs: [2, 3] },
    ]);
    expect(await frontier(h, m.machineId)).toMatchObject({ stagedSeq: 4, ahead: [] });
    expect((await frontier(h, m.machineId)).gap).toBeUndefined();
    expect(await getRecoveryPoint(h.deps, m.machineId, 'p')).toMatchObject({ durable: true });
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    expect(await watermark(h, d)).toMatchObject({ appliedSeq: 4 });
    expect((await watermark(h, d))?.stopped).toBeUndefined();
    expect((await replicaBytes(h, d)).equals(d.image)).toBe(true);
    expect((await h.deps.docs.alerts.query({ partitionKey: m.machineId })).items).toEqual([]);
    expect(await settleGaps(h.deps, h.opts, m.machineId)).toEqual([]);
  });

  it('what has an upload is ingested, and the generation stops at the first batch without one', async () => {
    const { h, m, d, later } = await lostEvents('inline');
    later(GAP_GRACE_MS + MINUTE);
    expect(await settleGaps(h.deps, h.opts, m.machineId)).toEqual([
      {
        machineId: m.machineId,
        diskId: 'd0',
        generation: 1,
        action: 'stopped',
        missingSeq: 3,
        stagedUpTo: 4,
        recovered: [2],
      },
    ]);
    expect((await frontier(h, m.machineId)).stagedSeq).toBe(2);
    expect((await watermark(h, d))?.stopped).toMatchObject({ seq: 3 });
    const alerts = (await h.deps.docs.alerts.query({ partitionKey: m.machineId })).items;
    expect(alerts.map((a) => a.doc)).toEqual([
      expect.objectContaining({
        kind: 'replication-gap',
        seq: 3,
        details: expect.objectContaining({ missingSeq: 3, recoveredFromUploads: [2] }),
      }),
    ]);
  });

  it("another disk's upload whose name shares the lost batch's prefix is not taken for it", async () => {
    const { h, m, later } = await fresh({ d0: 1 * MiB, 'd0-1': 1 * MiB });
    const [d, other] = m.disks as [TestDisk, TestDisk];
    d.batch([data(0, 4096, 1)]); // seq 1: lost, and never uploaded
    await ingest(h, d, [d.batch([data(4096, 4096, 2)]), d.batch([data(8192, 4096, 3)])]);
    // Seq 1 of disk d0-1 (generation 1) is uploaded as `<m>/d0-1-1-1-<nonce>`: d0's seq 1 prefix.
    const { claim } = await uploadClaim(h, other.batch([data(0, 4096, 9)]));
    expect(claim.startsWith(`${m.machineId}/d0-1-1-`)).toBe(true);
    later(GAP_GRACE_MS + MINUTE);
    expect(await settleGaps(h.deps, h.opts, m.machineId)).toMatchObject([
      { diskId: 'd0', action: 'stopped', missingSeq: 1, recovered: [] },
    ]);
    expect(await watermark(h, other)).toBeUndefined(); // nothing of d0-1 was ingested
  });
});
