import { beforeAll, describe, expect, it } from 'vitest';
import type { Root } from '../../../app/root';
import { createSite, getSite, listSites } from '../../../functions/controlPlane/sites';
import {
  createPolicy,
  getPolicy,
  listPolicies,
  putPolicy,
} from '../../../functions/controlPlane/policies';
import { call, expectProblem, storeSnapshot, testRoot, type Reply } from './support';

let root: Root;

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
