import { beforeAll, describe, expect, it } from 'vitest';
import type { Root } from '../../../app/root';
import { createSite } from '../../../functions/controlPlane/sites';
import { getMachine, listMachines } from '../../../functions/controlPlane/machines';
import { getJob, protect } from '../../../functions/controlPlane/protection';
import { call, enrollInto, expectProblem, storeSnapshot, testRoot } from './support';

let root: Root;

const enrollMachine = async (site: string) =>
  (
    await enrollInto(site, {
      disks: ['sda', 'sdb'].map((id) => ({ id, sizeBytes: 1 << 20, logicalSectorSize: 512 })),
    })
  ).machineId;

beforeAll(async () => {
  root = testRoot();
  await call(createSite, { path: 'sites', body: { name: 'main', description: 'primary DC' } });
});

describe('machines and protection', () => {
  it('lists machines paged and filtered by site', async () => {
    await call(createSite, { path: 'sites', body: { name: 'paging' } });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await enrollMachine('paging'));
    const seen: string[] = [];
    let continuation: string | undefined;
    do {
      const r = await call(listMachines, {
        path: `machines?siteId=paging&limit=2${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`,
      });
      expect(r.json.items.length).toBeLessThanOrEqual(2);
      seen.push(...r.json.items.map((m: { id: string }) => m.id));
      continuation = r.json.continuation;
    } while (continuation);
    expect(seen.sort()).toEqual(ids.sort());
    expectProblem(await call(listMachines, { path: 'machines?siteId=Bad!' }), 400, 'validation');
    expectProblem(
      await call(getMachine, { path: 'machines/m-nope', params: { id: 'm-nope' } }),
      404,
      'not-found',
    );
  });

  it('protect → enabling item + job; duplicate is idempotent; conflicting 409; unknowns 404', async () => {
    const m = await enrollMachine('main');
    const at = { path: `machines/${m}/protect`, params: { id: m } };

    const before = await storeSnapshot(root);
    expectProblem(
      await call(protect, { path: 'machines/m-nope/protect', params: { id: 'm-nope' }, body: {} }),
      404,
      'not-found',
    );
    expectProblem(await call(protect, { ...at, body: { disks: ['sdz'] } }), 404, 'not-found');
    expectProblem(await call(protect, { ...at, body: { policy: 'no-such' } }), 404, 'not-found');
    expectProblem(await call(protect, { ...at, body: { disks: [] } }), 400, 'validation');
    expectProblem(await call(protect, { ...at, body: { disks: 'sda' } }), 400, 'validation');
    expectProblem(await call(protect, { ...at, body: { force: true } }), 400, 'validation');
    expect(await storeSnapshot(root)).toEqual(before);

    const first = await call(protect, { ...at, body: { disks: ['sda'] } });
    expect(first.status).toBe(202);
    expect(first.json.item).toMatchObject({
      machineId: m,
      state: 'enabling',
      disks: ['sda'],
      policy: 'default',
    });
    expect(first.json.job).toMatchObject({
      type: 'enable-protection',
      state: 'queued',
      machineId: m,
    });
    expect(first.json.job.instanceId).toBe(first.json.job.id);
    expect(first.headers.location).toBe(`/api/jobs/${first.json.job.id}`);

    const again = await call(protect, { ...at, body: { disks: ['sda'], policy: 'default' } });
    expect(again.status).toBe(200);
    expect(again.json.item).toEqual(first.json.item);
    expect(again.json.job.id).toBe(first.json.job.id);

    const mid = await storeSnapshot(root);
    expectProblem(await call(protect, { ...at, body: { disks: ['sda', 'sdb'] } }), 409, 'conflict');
    expect(await storeSnapshot(root)).toEqual(mid);

    const job = await call(getJob, {
      path: `jobs/${first.json.job.id}`,
      params: { id: first.json.job.id },
    });
    expect(job.json).toMatchObject({
      id: first.json.job.id,
      state: 'queued',
      progress: { percent: 0 },
    });
    expectProblem(
      await call(getJob, { path: 'jobs/job-nope', params: { id: 'job-nope' } }),
      404,
      'not-found',
    );

    const beat = await root.controlPlane.protection.agentView(m);
    expect(beat).toEqual({
      state: 'enabling',
      disks: ['sda'],
      policy: 'default',
      crashIntervalSeconds: 5,
      appIntervalSeconds: 3600,
    });
    const detail = await call(getMachine, { path: `machines/${m}`, params: { id: m } });
    expect(detail.json.protection).toMatchObject({
      state: 'enabling',
      disks: ['sda'],
      jobId: first.json.job.id,
    });
  });

  it('concurrent identical protects create one item and one job', async () => {
    const m = await enrollMachine('main');
    const rs = await Promise.all(
      [1, 2, 3, 4].map(() =>
        call(protect, { path: `machines/${m}/protect`, params: { id: m }, body: {} }),
      ),
    );
    expect(rs.filter((r) => r.status === 202)).toHaveLength(1);
    expect(rs.every((r) => r.status === 202 || r.status === 200)).toBe(true);
    expect(new Set(rs.map((r) => r.json.job.id)).size).toBe(1);
    const jobs = (await storeSnapshot(root)).filter((x) => x.startsWith('jobs/'));
    const jobDocs = await Promise.all(
      jobs.map((j) => root.controlPlane.jobs.get(j.split('/')[1]!.split('@')[0]!)),
    );
    expect(jobDocs.filter((j) => j.machineId === m)).toHaveLength(1);
  });

  it('lifecycle transitions through the repo; illegal ones are 409 and change nothing', async () => {
    const m = await enrollMachine('main');
    await call(protect, { path: `machines/${m}/protect`, params: { id: m }, body: {} });
    const items = root.controlPlane.protectedItems;
    await items.transition(m, 'initial-sync');
    await items.transition(m, 'protected', { from: ['initial-sync'] });
    const cur = await items.get(m);
    await expect(items.transition(m, 'committed')).rejects.toMatchObject({ kind: 'conflict' });
    await expect(items.transition(m, 'failing-over', { ifMatch: '"stale"' })).rejects.toMatchObject(
      { kind: 'precondition' },
    );
    expect((await items.get(m)).etag).toBe(cur.etag);
    // Two failovers race: exactly one wins (invariant 6).
    const rs = await Promise.allSettled(
      [1, 2].map(() => items.transition(m, 'failing-over', { from: ['protected'] })),
    );
    expect(rs.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(rs.find((r) => r.status === 'rejected')).toMatchObject({ reason: { kind: 'conflict' } });
    const final = await items.get(m);
    expect(final.doc.history.map((h) => h.to)).toEqual([
      'enabling',
      'initial-sync',
      'protected',
      'failing-over',
    ]);
  });
});
