import { describe, expect, it } from 'vitest';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvent } from '../../../core/replication/ingest';
import {
  REPLICAS,
  REPLICA_INDEX,
  replicaBlobName,
  stagingBlobName,
} from '../../../core/replication/names';
import {
  applyRetention,
  getGroupRecoveryPoint,
  getRecoveryPoint,
  listRecoveryPoints,
  recoveryPointReadUrl,
} from '../../../core/replication/recoveryPoints';
import { pointsToKeep } from '../../../core/replication/retentionPolicy';
import { replicationHealth } from '../../../core/replication/health';
import { isVhdFooter } from '../../../core/replication/vhdFooter';
import { popcount } from '../../../core/replication/bitmaps';
import { bookmark, data, harness, zero, type Harness, type TestDisk } from './support';

const MiB = 1024 * 1024;

async function push(h: Harness, d: TestDisk, env: Buffer) {
  const r = await ingestEvent(h.deps, h.opts, { body: env, partitionKey: d.machine.machineId });
  expect(r.status).toBe('staged');
  return hydrateStaged(
    h.deps,
    h.opts,
    stagingBlobName(d.machine.machineId, d.diskId, d.generation, d.seq),
  );
}

describe('recovery points', () => {
  it('publishes a point only when every protected disk hydrated the bookmark; digest and restore are exact', async () => {
    const h = await harness();
    const m = h.addMachine(
      { os: 3 * MiB, data: 2 * MiB + 64 * 1024 },
      { protectedDisks: ['os', 'data'] },
    );
    const [os, dd] = m.disks as [TestDisk, TestDisk];
    await push(h, os, os.batch([data(0, 1 * MiB), data(2 * MiB, 4096)]));
    await push(h, dd, dd.batch([data(512, 8192), zero(1 * MiB, 64 * 1024)]));
    const t1 = '2026-11-28T05:00:00.000Z';
    await push(h, os, os.batch([data(4096, 512)], bookmark('bm1', t1)));
    const expectedOs = Buffer.from(os.image);
    // Only one disk has its piece: no point yet.
    await expect(getRecoveryPoint(h.deps, m.machineId, 'bm1')).rejects.toMatchObject({
      kind: 'not-found',
    });
    // Writes after the bookmark on the os disk must not leak into the point.
    await push(h, os, os.batch([data(0, 64 * 1024, 0xee)]));
    const r = await push(h, dd, dd.batch([], bookmark('bm1', t1)));
    expect(r.points).toEqual(['bm1']);
    const expectedData = Buffer.from(dd.image);
    const p = await getRecoveryPoint(h.deps, m.machineId, 'bm1');
    expect(p).toMatchObject({ id: 'bm1', time: t1, consistency: 'crash', generation: 1 });
    expect(p.disks.map((x) => x.diskId)).toEqual(['data', 'os']);
    expect(p.disks.find((x) => x.diskId === 'os')!.sha256).toBe(os.digest(expectedOs));
    expect(p.disks.find((x) => x.diskId === 'data')!.sha256).toBe(dd.digest(expectedData));

    // Restore through the read URL (what the agent does): snapshot minus footer = source at the bookmark.
    for (const [disk, expected] of [
      [os, expectedOs],
      [dd, expectedData],
    ] as const) {
      const link = await recoveryPointReadUrl(h.deps, m.machineId, 'bm1', disk.diskId, 300);
      expect(link.sizeBytes).toBe(disk.size);
      const res = await fetch(link.url);
      expect(res.status).toBe(200);
      const blob = Buffer.from(await res.arrayBuffer());
      expect(isVhdFooter(blob.subarray(blob.length - 512))).toBe(true);
      expect(blob.subarray(0, disk.size).equals(expected)).toBe(true);
      expect(disk.digest(blob.subarray(0, disk.size))).toBe(link.sha256);
    }
    await expect(
      recoveryPointReadUrl(h.deps, m.machineId, 'bm1', 'nope', 60),
    ).rejects.toMatchObject({ kind: 'not-found' });
  });

  it('lists newest first, keeps a per-point change index, and health reports RPO and backlog', async () => {
    let now = Date.parse('2026-11-28T06:00:00.000Z');
    const h = await harness('azure', () => now);
    const m = h.addMachine({ d0: 4 * MiB });
    const d = m.disks[0]!;
    await push(h, d, d.batch([data(0, 2 * MiB)], bookmark('p1', '2026-11-28T05:59:00.000Z')));
    await push(
      h,
      d,
      d.batch(
        [data(100 * 1024, 512), data(3 * MiB, 128 * 1024)],
        bookmark('p2', '2026-11-28T05:59:30.000Z'),
      ),
    );
    const list = await listRecoveryPoints(h.deps, m.machineId);
    expect(list.items.map((p) => p.id)).toEqual(['p2', 'p1']);
    expect(list.items[1]!.disks[0]!.changedBlocks).toBe(32);
    expect(list.items[0]!.disks[0]!.changedBlocks).toBe(3); // one partial block + two full ones
    const bits = (await h.blobs.readBlob(REPLICA_INDEX, `${m.machineId}/d0/g1/changes/p2`))!.data;
    expect(popcount(bits)).toBe(3);
    expect(bits[0]).toBe(0b10); // block 1 (100 KiB)
    expect(bits[6]).toBe(0b11); // blocks 48, 49 (3 MiB + 128 KiB)
    // Staged but not applied: a gap holds seq 4.
    d.seq++;
    await ingestEvent(h.deps, h.opts, { body: d.batch([data(0, 512)]), partitionKey: m.machineId });
    now += 5_000;
    const health = await replicationHealth(h.deps, m.machineId);
    expect(health.rpoSeconds).toBe(35);
    expect(health.lastPoint).toMatchObject({ id: 'p2' });
    expect(health.backlog.batches).toBe(1);
    expect(health.disks).toEqual([
      expect.objectContaining({ diskId: 'd0', generation: 1, appliedSeq: 2 }),
    ]);
    expect(health.churnBytesPerSecond).toBeGreaterThan(0);
  });

  it('retention drops points, deletes their snapshots and merges their change sets forward', async () => {
    let now = Date.parse('2026-11-28T00:00:00.000Z');
    const h = await harness('azure', () => now);
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    const times = [
      '2026-11-25T01:10:00.000Z',
      '2026-11-25T01:40:00.000Z',
      '2026-11-26T03:00:00.000Z',
      '2026-11-27T23:30:00.000Z',
    ];
    const blocks = [0, 1, 2, 3];
    for (let i = 0; i < times.length; i++) {
      await push(h, d, d.batch([data(blocks[i]! * 64 * 1024, 512)], bookmark(`p${i}`, times[i])));
    }
    h.directory.machines.get(m.machineId)!.retention = {
      retentionHours: 12,
      thinning: [{ keep: 'daily', forHours: 24 * 4 }],
    };
    const before = (await listRecoveryPoints(h.deps, m.machineId)).items;
    const p0snap = before.find((p) => p.id === 'p0')!.disks[0]!.snapshot;
    const r = await applyRetention(h.deps, m.machineId);
    // Daily buckets: 11-25 keeps its newest (p1), 11-26 keeps p2; p3 within 12 h.
    expect(r.dropped).toEqual(['p0']);
    expect((await listRecoveryPoints(h.deps, m.machineId)).items.map((p) => p.id)).toEqual([
      'p3',
      'p2',
      'p1',
    ]);
    expect(
      await h.blobs.getProperties(REPLICAS, replicaBlobName(m.machineId, 'd0', 1), p0snap),
    ).toBeUndefined();
    const p1 = await getRecoveryPoint(h.deps, m.machineId, 'p1');
    const merged = (await h.blobs.readBlob(REPLICA_INDEX, `${m.machineId}/d0/g1/changes/p1`))!.data;
    expect(popcount(merged)).toBe(2); // its own block 1 + p0's block 0
    expect(p1.disks[0]!.changedBlocks).toBe(1); // the document keeps what it measured
    now += 10 * 24 * 3600_000;
    const r2 = await applyRetention(h.deps, m.machineId);
    expect(r2.dropped.sort()).toEqual(['p1', 'p2']);
    expect((await listRecoveryPoints(h.deps, m.machineId)).items.map((p) => p.id)).toEqual(['p3']);
  });

  it('pointsToKeep: everything inside retention, newest per bucket after, newest always', () => {
    const now = Date.parse('2026-11-28T12:00:00Z');
    const pts = [
      '2026-11-28T11:00:00Z',
      '2026-11-28T02:30:00Z',
      '2026-11-28T02:10:00Z',
      '2026-11-27T01:00:00Z',
      '2026-11-01T00:00:00Z',
    ].map((time, i) => ({ id: `p${i}`, time }));
    const keep = pointsToKeep(
      pts,
      { retentionHours: 2, thinning: [{ keep: 'hourly', forHours: 24 }] },
      now,
    );
    expect([...keep].sort()).toEqual(['p0', 'p1']);
    expect([...pointsToKeep([pts[4]!], { retentionHours: 1, thinning: [] }, now)]).toEqual(['p4']);
  });

  it('a resync writes a new generation to a fresh replica; older points stay readable', async () => {
    const h = await harness();
    const m = h.addMachine({ d0: 2 * MiB });
    const d = m.disks[0]!;
    await push(
      h,
      d,
      d.batch([data(0, 1 * MiB, 0x11)], bookmark('g1p', '2026-11-28T01:00:00.000Z')),
    );
    const g1Image = Buffer.from(d.image);
    // Resync: generation 2 from scratch, partially copied — not yet live, no point.
    d.generation = 2;
    d.seq = 0;
    d.image.fill(0);
    await push(h, d, d.batch([data(0, 1 * MiB, 0x22)]));
    expect((await h.deps.docs.disks.get(m.machineId, 'd0.g1'))!.doc.complete).toBe(true);
    expect((await h.deps.docs.disks.get(m.machineId, 'd0.g2'))!.doc.complete).toBeUndefined();
    await push(
      h,
      d,
      d.batch([data(1 * MiB, 1 * MiB, 0x33)], bookmark('g2p', '2026-11-28T02:00:00.000Z')),
    );
    expect((await h.deps.docs.disks.get(m.machineId, 'd0.g2'))!.doc.complete).toBe(true);
    const g1 = await getRecoveryPoint(h.deps, m.machineId, 'g1p');
    const g2 = await getRecoveryPoint(h.deps, m.machineId, 'g2p');
    expect(g2.generation).toBe(2);
    const s1 = await h.blobs.readRange(
      REPLICAS,
      replicaBlobName(m.machineId, 'd0', 1),
      0,
      d.size,
      g1.disks[0]!.snapshot,
    );
    const s2 = await h.blobs.readRange(
      REPLICAS,
      replicaBlobName(m.machineId, 'd0', 2),
      0,
      d.size,
      g2.disks[0]!.snapshot,
    );
    expect(s1.equals(g1Image)).toBe(true);
    expect(s2.equals(d.image)).toBe(true);
    expect(g2.disks[0]!.sha256).toBe(d.digest());
    // A late batch of the superseded generation is refused.
    d.generation = 1;
    d.seq = 2;
    expect(
      await ingestEvent(h.deps, h.opts, {
        body: d.batch([data(0, 512)], undefined, { apply: false }),
        partitionKey: m.machineId,
      }),
    ).toMatchObject({
      status: 'rejected',
      reason: expect.stringMatching(/older than the live generation/),
    });
    // Once retention drops the old generation's points, its replica goes too.
    h.directory.machines.get(m.machineId)!.retention = { retentionHours: 1, thinning: [] };
    await applyRetention(h.deps, m.machineId);
    expect(
      await h.blobs.getProperties(REPLICAS, replicaBlobName(m.machineId, 'd0', 1)),
    ).toBeUndefined();
    expect(
      await h.blobs.getProperties(REPLICAS, replicaBlobName(m.machineId, 'd0', 2)),
    ).toBeDefined();
    expect(await h.deps.docs.points.get(m.machineId, 'piece:g1p:d0')).toBeUndefined();
    expect(await h.deps.docs.points.get(m.machineId, 'piece:g2p:d0')).toBeDefined();
  });

  it('retention removes orphan pieces (a bookmark one disk never reached) and keeps the change chain', async () => {
    const now = Date.parse('2026-11-28T00:00:00.000Z');
    const h = await harness('azure', () => now);
    const m = h.addMachine({ a: 1 * MiB, b: 1 * MiB });
    const [a, b] = m.disks as [TestDisk, TestDisk];
    // 'lost' reaches disk a only (b's batch never came); 'ok' is complete later.
    await push(h, a, a.batch([data(0, 512)], bookmark('lost', '2026-11-26T00:00:00.000Z')));
    await push(h, a, a.batch([data(128 * 1024, 512)], bookmark('ok', '2026-11-27T23:00:00.000Z')));
    await push(h, b, b.batch([data(0, 512)], bookmark('ok', '2026-11-27T23:00:00.000Z')));
    const lost = (await h.deps.docs.points.get(m.machineId, 'piece:lost:a'))!.doc as {
      snapshot: string;
    };
    h.directory.machines.get(m.machineId)!.retention = { retentionHours: 24, thinning: [] };
    const r = await applyRetention(h.deps, m.machineId);
    expect(r).toEqual({ dropped: [], orphanPieces: 1 });
    expect(await h.deps.docs.points.get(m.machineId, 'piece:lost:a')).toBeUndefined();
    expect(
      await h.blobs.getProperties(REPLICAS, replicaBlobName(m.machineId, 'a', 1), lost.snapshot),
    ).toBeUndefined();
    const chain = (await h.blobs.readBlob(REPLICA_INDEX, `${m.machineId}/a/g1/changes/ok`))!.data;
    expect(chain[0]).toBe(0b101); // block 0 (from 'lost') and block 2 (its own)
    expect((await getRecoveryPoint(h.deps, m.machineId, 'ok')).disks).toHaveLength(2);
  });

  it('a consistency-group point exists once every member machine published the shared bookmark', async () => {
    const h = await harness();
    const m1 = h.addMachine({ d0: 1 * MiB });
    const m2 = h.addMachine({ d0: 1 * MiB });
    const t = '2026-11-28T06:00:00.000Z';
    const bm = { id: 'grp-1', consistency: 'app' as const, groupId: 'g-a', createdAt: t };
    await push(h, m1.disks[0]!, m1.disks[0]!.batch([data(0, 512)], bm));
    await expect(
      getGroupRecoveryPoint(h.deps, 'g-a', 'grp-1', [m1.machineId, m2.machineId]),
    ).rejects.toMatchObject({
      kind: 'not-found',
    });
    await push(h, m2.disks[0]!, m2.disks[0]!.batch([data(512, 512)], bm));
    const g = await getGroupRecoveryPoint(h.deps, 'g-a', 'grp-1', [m1.machineId, m2.machineId]);
    expect(g.machines.map((p) => p.machineId)).toEqual([m1.machineId, m2.machineId]);
    expect(g.machines.every((p) => p.groupId === 'g-a' && p.consistency === 'app')).toBe(true);
    await expect(
      getGroupRecoveryPoint(h.deps, 'other', 'grp-1', [m1.machineId]),
    ).rejects.toMatchObject({ kind: 'not-found' });
  });
});
