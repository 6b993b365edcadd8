import { describe, expect, it } from 'vitest';
import { hydrateStaged } from '../../../core/replication/hydrate';
import { ingestEvent } from '../../../core/replication/ingest';
import { REPLICAS, stagingBlobName } from '../../../core/replication/names';
import { getRecoveryPoint } from '../../../core/replication/recoveryPoints';
import { verifyDuePoints, verifyPoint } from '../../../core/replication/verifyPoint';
import { bookmark, data, harness, type Harness, type TestDisk } from './support';

const MiB = 1024 * 1024;

async function push(h: Harness, d: TestDisk, env: Buffer) {
  const r = await ingestEvent(h.deps, h.opts, { body: env, partitionKey: d.machine.machineId });
  expect(r.status).toBe('staged');
  await hydrateStaged(h.deps, h.opts, stagingBlobName(d.machine.machineId, d.diskId, 1, d.seq));
}

describe('verification pass', () => {
  it('reads a point back: a match is recorded; a write the replica lost is caught and alerted', async () => {
    let now = Date.parse('2026-12-01T00:00:00.000Z');
    const h = await harness('memory', () => now);
    const m = h.addMachine({ d0: 2 * MiB + 4096 });
    const d = m.disks[0]!;
    await push(h, d, d.batch([data(0, 1 * MiB), data(2 * MiB, 4096)], bookmark('good')));
    const v = await verifyPoint(h.deps, m.machineId, 'good');
    expect(v).toMatchObject({ ok: true, disks: [{ diskId: 'd0', bytesRead: d.size }] });
    expect(v.disks[0]!.actual).toBe(d.digest());

    // Storage silently drops a write after hydrate took its digest from the batch: only reading
    // the snapshot back can tell.
    const upload = h.blobs.uploadPages.bind(h.blobs);
    h.blobs.uploadPages = async (c, n, off, bytes, lease) => {
      if (c === REPLICAS && off === 4096) return; // acknowledged, never stored
      return upload(c, n, off, bytes, lease);
    };
    await push(h, d, d.batch([data(4096, 8192)], bookmark('lost')));
    h.blobs.uploadPages = upload;
    // The due pass picks the newest materialized point once the last check is old enough.
    expect((await verifyDuePoints(h.deps, 24)).verified).toEqual([]); // 'good' checked just now
    now += 25 * 3600_000;
    const due = await verifyDuePoints(h.deps, 24);
    expect(due.verified.map((x) => [x.pointId, x.ok])).toEqual([['lost', false]]);
    const alerts = await h.deps.docs.alerts.query({ partitionKey: m.machineId });
    expect(alerts.items.map((a) => a.doc)).toEqual([
      expect.objectContaining({
        kind: 'replication-integrity',
        diskId: 'd0',
        severity: 'critical',
      }),
    ]);
    const docs = await h.deps.docs.points.get(m.machineId, 'lost');
    expect(docs?.doc).toMatchObject({ verified: false });
    expect((await getRecoveryPoint(h.deps, m.machineId, 'good')).materialized).toBe(true);
  });
});
