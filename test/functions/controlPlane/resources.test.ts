import { beforeAll, describe, expect, it } from 'vitest';
import type { Root } from '../../../app/root';
import { createSite, getSite, listSites } from '../../../functions/controlPlane/sites';
import {
  createPolicy,
  getPolicy,
  listPolicies,
  putPolicy,
} from '../../../functions/controlPlane/policies';
import { getMachine, listMachines } from '../../../functions/controlPlane/machines';
import { getJob, protect } from '../../../functions/controlPlane/protection';
import { health } from '../../../functions/controlPlane/health';
import { openApi } from '../../../functions/controlPlane/openapi';
import { operationOf } from '../../../functions/controlPlane/api';
import { call, enrollInto, expectProblem, storeSnapshot, testRoot, type Reply } from './support';

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

describe('sites', () => {
  it('creates, gets, lists with paging; duplicate name 409; unknown 404; bad bodies write nothing', async () => {
    for (const name of ['s-a', 's-b', 's-c']) {
      const r = await call(createSite, { path: 'sites', body: { name } });
      expect(r.status).toBe(201);
      expect(r.headers.location).toBe(`/api/sites/${name}`);
    }
    expect((await call(getSite, { path: 'sites/s-b', params: { id: 's-b' } })).json).toMatchObject({
      id: 's-b',
      name: 's-b',
    });
    const p1 = await call(listSites, { path: 'sites?limit=2' });
    expect(p1.json.items).toHaveLength(2);
    expect(p1.headers.link).toContain('rel="next"');
    const p2 = await call(listSites, {
      path: `sites?limit=2&continuation=${encodeURIComponent(p1.json.continuation)}`,
    });
    const names = [...p1.json.items, ...p2.json.items].map((s: { id: string }) => s.id);
    expect(names).toEqual(['main', 's-a', 's-b', 's-c']);
    expect(p2.json.continuation).toBeUndefined();

    const before = await storeSnapshot(root);
    const badCreates: [unknown, number, string, Record<string, string>?][] = [
      [{ name: 's-a' }, 409, 'conflict'],
      [{ name: 'Bad Name' }, 400, 'validation'],
      [{ name: 'ok', extra: 1 }, 400, 'validation'],
      ['not json', 400, 'validation'],
      [{ name: 'ok', description: 'x'.repeat(5000) }, 413, 'too-large'],
      [{ name: 'ok' }, 400, 'validation', { 'content-type': 'text/plain' }],
    ];
    for (const [body, status, kind, headers] of badCreates)
      expectProblem(await call(createSite, { path: 'sites', body, headers }), status, kind);
    expectProblem(
      await call(getSite, { path: 'sites/nope', params: { id: 'nope' } }),
      404,
      'not-found',
    );
    expectProblem(await call(listSites, { path: 'sites?limit=0' }), 400, 'validation');
    expectProblem(await call(listSites, { path: 'sites?continuation=xyz' }), 400, 'validation');
    expect(await storeSnapshot(root)).toEqual(before);
  });
});

describe('policies', () => {
  it('create with defaults, ETag on GET, If-Match update, stale 412 writes nothing', async () => {
    const c = await call(createPolicy, {
      path: 'policies',
      body: {
        name: 'gold',
        retentionHours: 48,
        thinning: [
          { keep: 'hourly', forHours: 24 },
          { keep: 'daily', forHours: 168 },
        ],
      },
    });
    expect(c.status).toBe(201);
    expect(c.json).toMatchObject({
      name: 'gold',
      crashIntervalSeconds: 5,
      appIntervalSeconds: 3600,
      retentionHours: 48,
      rpoAlertSeconds: 60,
    });
    const g = await call(getPolicy, { path: 'policies/gold', params: { name: 'gold' } });
    expect(g.headers.etag).toBe(c.headers.etag);
    const fields = {
      crashIntervalSeconds: 10,
      appIntervalSeconds: 0,
      retentionHours: 72,
      thinning: [],
      rpoAlertSeconds: 30,
    };
    const put = (name: string, body: unknown, headers: Record<string, string> = {}) =>
      call(putPolicy, { method: 'PUT', path: `policies/${name}`, params: { name }, headers, body });
    const asRead = { 'if-match': g.headers.etag! }; // stale once the first PUT lands
    const u = await put('gold', fields, asRead);
    expect(u.status).toBe(200);
    expect(u.headers.etag).not.toBe(g.headers.etag);
    expect(u.json).toMatchObject({ ...fields, createdAt: c.json.createdAt });

    const before = await storeSnapshot(root);
    const refusals: [() => Promise<Reply>, number, string][] = [
      [() => put('gold', { ...fields, retentionHours: 1 }, asRead), 412, 'precondition'],
      [() => put('none', fields, asRead), 404, 'not-found'],
      [() => put('gold', { ...fields, crashIntervalSeconds: '5s' }), 400, 'validation'],
      [() => put('gold', { ...fields, name: 'x' }), 400, 'validation'],
      [() => call(createPolicy, { path: 'policies', body: { name: 'gold' } }), 409, 'conflict'],
      [
        () =>
          call(createPolicy, {
            path: 'policies',
            body: { name: 'silver', thinning: [{ keep: 'monthly', forHours: 1 }] },
          }),
        400,
        'validation',
      ],
      [
        () => call(getPolicy, { path: 'policies/nope', params: { name: 'nope' } }),
        404,
        'not-found',
      ],
    ];
    for (const [send, status, kind] of refusals) expectProblem(await send(), status, kind);
    expect(await storeSnapshot(root)).toEqual(before);

    // Unconditional PUT creates.
    expect((await put('bronze', {})).json.crashIntervalSeconds).toBe(5);
    const list = await call(listPolicies, { path: 'policies' });
    expect(list.json.items.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['gold', 'bronze']),
    );
  });
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

describe('operations', () => {
  it('health reports each dependency with latency', async () => {
    const r = await call(health, { path: 'health' });
    const deps = Object.fromEntries(r.json.dependencies.map((d: { name: string }) => [d.name, d]));
    expect(deps.cosmos).toMatchObject({ status: 'ok' });
    expect(deps.storage).toMatchObject({ status: 'ok' });
    expect(typeof deps.cosmos.latencyMs).toBe('number');
    // The test config names an Event Hubs namespace that does not exist: reported, not thrown.
    expect(deps.eventHubs.status).toBe('failed');
    expect(r.status).toBe(503);
    expect(JSON.stringify(r.json)).not.toContain('SharedAccessKey');
  });

  it('health is 200 when everything answers, and reports a dead Cosmos', async () => {
    const ok = testRoot({ eventHubs: undefined });
    expect((await call(health, { path: 'health' })).status).toBe(200);
    testRoot({
      eventHubs: undefined,
      cosmos: { ...ok.config.cosmos, endpoint: 'http://127.0.0.1:9' },
    });
    const bad = await call(health, { path: 'health' });
    expect(bad.status).toBe(503);
    expect(bad.json.dependencies.find((d: { name: string }) => d.name === 'cosmos').status).toBe(
      'failed',
    );
    root = testRoot();
  });

  it('serves an OpenAPI 3.1 document generated from the zod schemas', async () => {
    const r = await call(openApi, { path: 'openapi.json' });
    expect(r.json.openapi).toBe('3.1.0');
    const paths = Object.keys(r.json.paths).sort();
    for (const p of [
      '/sites',
      '/sites/{id}',
      '/sites/{id}/enrollment-tokens',
      '/enroll',
      '/policies',
      '/policies/{name}',
      '/machines',
      '/machines/{id}',
      '/machines/{id}/heartbeat',
      '/machines/{id}/disks',
      '/machines/{id}/protect',
      '/machines/{id}/disable-protection',
      '/machines/{id}/ingest-token',
      '/jobs/{id}',
      '/health',
      '/openapi.json',
    ]) {
      expect(paths).toContain(p);
    }
    const enrollSchema =
      r.json.paths['/enroll'].post.requestBody.content['application/json'].schema;
    expect(enrollSchema.additionalProperties).toBe(false);
    expect(enrollSchema.required).toEqual(expect.arrayContaining(['token', 'hostname', 'os']));
    expect(r.json.paths['/sites'].post.security).toEqual([{ functionKey: [] }]);
    const site =
      r.json.paths['/sites/{id}'].get.responses['200'].content['application/json'].schema;
    expect(site.required).toEqual(expect.arrayContaining(['id', 'name', 'createdAt']));
    expect(r.json.paths['/health'].get.responses['503'].content['application/json']).toBeDefined();
    expect(
      r.json.paths['/enroll'].post.responses['400'].content['application/problem+json'],
    ).toBeDefined();
    // Every operation publishes its success shape, which `call` checks on every reply.
    for (const op of operationOf.values())
      if (op.name !== 'openApi') expect(op.response, op.name).toBeDefined();
    expect(operationOf.get(createSite)?.name).toBe('createSite');
    const disable = r.json.paths['/machines/{id}/disable-protection'].post;
    expect(disable.security).toEqual([{ functionKey: [] }]);
    expect(Object.keys(disable.responses)).toEqual(
      expect.arrayContaining(['200', '202', '404', '409']),
    );
    expect(disable.responses['409'].content['application/problem+json']).toBeDefined();
    expect(r.json.paths['/machines/{id}/heartbeat'].post.security).toEqual([
      { machineCredential: [] },
    ]);
  });
});
