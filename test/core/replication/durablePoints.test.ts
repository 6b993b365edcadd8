import { describe, expect, it } from 'vitest';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvent } from '../../../core/replication/ingest';
import { ingestEvents } from '../../../core/replication/ingestEvents';
import { materializeUpTo, waitMaterialized } from '../../../core/replication/materialize';
import { REPLICAS, replicaBlobName, stagingBlobName } from '../../../core/replication/names';
import {
  applyRetention,
  getRecoveryPoint,
  listRecoveryPoints,
  recoveryPointReadUrl,
} from '../../../core/replication/recoveryPoints';
import { replicationHealth } from '../../../core/replication/health';
import {
  bookmark,
  data,
  harness,
  replicaBytes,
  zero,
  type Harness,
  type TestDisk,
  watermark,
} from './support';

const MiB = 1024 * 1024;

/** One ingest invocation (cardinality many), as the Event Hubs trigger runs it. */
async function ingest(h: Harness, d: TestDisk, envs: Buffer[]) {
  const out = await ingestEvents(
    h.deps,
    h.opts,
    envs.map((body) => ({ body, partitionKey: d.machine.machineId })),
  );
  for (const o of out) expect(o.status).toBe('staged');
}

const pointOf = (h: Harness, machineId: string, id: string) =>
  getRecoveryPoint(h.deps, machineId, id).catch(() => undefined);

describe('durable before materialized', () => {
  it('a point is durable once its batches are staged on every disk, materialized once hydrated', async () => {
    const h = await harness();
    const m = h.addMachine({ os: 2 * MiB, data: 1 * MiB });
    const [os, dd] = m.disks as [TestDisk, TestDisk];
    await ingest(h, os, [os.batch([data(0, 256 * 1024), zero(1 * MiB, 64 * 1024)])]);
    const t = '2026-12-01T10:00:00.000Z';
    await ingest(h, os, [os.batch([data(4096, 512)], bookmark('b1', t))]);
    const expectedOs = Buffer.from(os.image);
    // One disk has it stored: not durable (the machine's other disk may still lose writes).
    expect(await pointOf(h, m.machineId, 'b1')).toBeUndefined();
    await ingest(h, dd, [dd.batch([data(8192, 4096)]), dd.batch([], bookmark('b1', t))]);
    const expectedData = Buffer.from(dd.image);

    const p = await getRecoveryPoint(h.deps, m.machineId, 'b1');
    expect(p).toMatchObject({ id: 'b1', time: t, durable: true, materialized: false });
    expect(p.materializedAt).toBeUndefined();
    expect(p.disks).toEqual([
      { diskId: 'data', generation: 1, sizeBytes: 1 * MiB },
      { diskId: 'os', generation: 1, sizeBytes: 2 * MiB },
    ]);
    expect((await listRecoveryPoints(h.deps, m.machineId)).items.map((x) => x.id)).toEqual(['b1']);
    // RPO stops at durability: health counts the point although nothing is hydrated.
    expect((await replicationHealth(h.deps, m.machineId)).lastPoint?.id).toBe('b1');
    // Its bytes are not readable until materialized: retry, not "missing".
    await expect(recoveryPointReadUrl(h.deps, m.machineId, 'b1', 'os', 60)).rejects.toMatchObject({
      kind: 'transient',
    });

    // Hydration makes it materialized, with exact snapshots.
    for (const d of [os, dd])
      await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, d.diskId, 1, 1));
    const q = await getRecoveryPoint(h.deps, m.machineId, 'b1');
    expect(q).toMatchObject({ materialized: true, durableAt: p.durableAt });
    expect(Date.parse(q.materializedAt!)).toBeGreaterThanOrEqual(Date.parse(p.durableAt));
    expect(q.disks.find((x) => x.diskId === 'os')!.sha256).toBe(os.digest(expectedOs));
    expect(q.disks.find((x) => x.diskId === 'data')!.sha256).toBe(dd.digest(expectedData));
    const link = await recoveryPointReadUrl(h.deps, m.machineId, 'b1', 'data', 60);
    const blob = Buffer.from(await (await fetch(link.url)).arrayBuffer());
    expect(blob.subarray(0, dd.size).equals(expectedData)).toBe(true);
  });

  it('a gap holds durability back; the missing batch, or one an earlier invocation staged, closes it', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    const b1 = d.batch([data(0, 4096, 1)]);
    const b2 = d.batch([data(4096, 4096, 2)]);
    const b3 = d.batch([], bookmark('after-gap'));
    const b4 = d.batch([data(0, 512, 4)]);
    const b5 = d.batch([], bookmark('later'));
    await ingest(h, d, [b1, b3]); // 2 is late
    expect(await pointOf(h, m.machineId, 'after-gap')).toBeUndefined();
    await ingest(h, d, [b2]);
    expect(await pointOf(h, m.machineId, 'after-gap')).toMatchObject({ materialized: false });
    // Seq 4 staged by an invocation that never recorded it (died before its durability step):
    // the next invocation finds it in staging instead of waiting forever.
    const r = await ingestEvent(h.deps, h.opts, { body: b4, partitionKey: m.machineId });
    expect(r.status).toBe('staged');
    await ingest(h, d, [b5]);
    expect(await pointOf(h, m.machineId, 'later')).toMatchObject({ materialized: false });
  });

  it('materializeUpTo drives hydration of a durable point; a busy replica leaves it pending', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    await ingest(h, d, [d.batch([data(0, 1 * MiB)]), d.batch([], bookmark('first'))]);
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, 'd0', 1, 1));
    await ingest(h, d, [d.batch([data(64 * 1024, 8192, 7)]), d.batch([], bookmark('p'))]);
    const want = Buffer.from(d.image);
    // Somebody else holds the replica (a hydrator that died mid-drain): nothing moves yet.
    const replica = replicaBlobName(m.machineId, 'd0', 1);
    const lease = await h.blobs.acquireLease(REPLICAS, replica, 15);
    const pending = await materializeUpTo(h.deps, h.opts, m.machineId, 'p');
    expect(pending).toMatchObject({ state: 'pending', point: { materialized: false } });
    expect(pending.disks).toEqual([
      { diskId: 'd0', generation: 1, seq: 4, sizeBytes: 2 * MiB, appliedSeq: 2 },
    ]);
    await h.blobs.releaseLease(REPLICAS, replica, lease!);
    const done = await waitMaterialized(h.deps, h.opts, m.machineId, 'p', { timeoutMs: 60_000 });
    expect(done).toMatchObject({ state: 'materialized', point: { materialized: true } });
    expect(done.point.disks[0]!.sha256).toBe(d.digest(want));
    expect((await replicaBytes(h, d)).equals(want)).toBe(true);
  });

  it('a point whose disk stopped before its bookmark can never materialize: failed, with the reason', async () => {
    const h = await harness('memory');
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    await ingest(h, d, [d.batch([data(0, 4096, 1)]), d.batch([], bookmark('doomed'))]);
    // A conflicting replay of seq 1 (an agent that lost its state) stops the disk.
    const liar = d.batch([data(0, 4096, 9)], undefined, { seq: 1, apply: false });
    expect(
      (await ingestEvent(h.deps, h.opts, { body: liar, partitionKey: m.machineId })).status,
    ).toBe('conflict');
    const r = await materializeUpTo(h.deps, h.opts, m.machineId, 'doomed');
    expect(r.state).toBe('failed');
    expect(r.reason).toMatch(/stopped before the bookmark/);
  });

  it('retention keeps a point that is not materialized yet, however old', async () => {
    let now = Date.parse('2026-12-01T00:00:00.000Z');
    const h = await harness('memory', () => now);
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    await ingest(h, d, [
      d.batch([data(0, 4096)]),
      d.batch([], bookmark('old', new Date(now).toISOString())),
    ]);
    await ingest(h, d, [d.batch([], bookmark('new', new Date(now + 1000).toISOString()))]);
    now += 72 * 3600_000; // far past the default 24 h
    const { dropped } = await applyRetention(h.deps, m.machineId);
    expect(dropped).toEqual([]);
    expect((await listRecoveryPoints(h.deps, m.machineId)).items.map((p) => p.id)).toEqual([
      'new',
      'old',
    ]);
    // Once materialized, the policy applies again.
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, 'd0', 1, 1));
    expect((await applyRetention(h.deps, m.machineId)).dropped).toEqual(['old']);
  });

  it('an agent clock ahead cannot date a point in the future: newest, RPO and retention follow the server', async () => {
    const start = Date.parse('2026-12-01T00:00:00.000Z');
    let now = start;
    const h = await harness('memory', () => now);
    const m = h.addMachine({ d0: 1 * MiB });
    const d = m.disks[0]!;
    const future = '2027-12-01T00:00:00.000Z'; // a year ahead: newest forever, RPO 0
    await ingest(h, d, [d.batch([data(0, 4096)]), d.batch([], bookmark('future', future))]);
    const p = await getRecoveryPoint(h.deps, m.machineId, 'future');
    expect(p).toMatchObject({ time: '2026-12-01T00:05:00.000Z', agentTime: future });
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, 'd0', 1, 1));
    expect((await watermark(h, d))?.lastPoint).toMatchObject({ pointId: 'future', time: p.time });
    now += 3600_000; // an hour without a point: the RPO says so
    expect((await replicationHealth(h.deps, m.machineId)).rpoSeconds).toBe(55 * 60);
    // An honest later point is the newest, and retention ages the future-dated one.
    await ingest(h, d, [d.batch([], bookmark('honest', new Date(now).toISOString()))]);
    const ids = async () => (await listRecoveryPoints(h.deps, m.machineId)).items.map((x) => x.id);
    expect(await ids()).toEqual(['honest', 'future']);
    await hydrateStaged(h.deps, h.opts, stagingBlobName(m.machineId, 'd0', 1, 3));
    now += 72 * 3600_000;
    expect((await applyRetention(h.deps, m.machineId)).dropped).toEqual(['future']);
    expect(await ids()).toEqual(['honest']);
  });
});
