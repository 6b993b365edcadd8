import { beforeAll, describe, expect, it } from 'vitest';
import type { Root } from '../../../app/root';
import { createSite } from '../../../functions/controlPlane/sites';
import {
  addMember,
  createGroup,
  cutGroupBookmark,
  deleteGroup,
  getGroup,
  getGroupPoint,
  listGroupPoints,
  listGroups,
  pendingGroupBookmarks,
  removeMember,
} from '../../../functions/controlPlane/consistencyGroups';
import { openApi } from '../../../functions/controlPlane/openapi';
import type { RecoveryPointDoc } from '../../../core/replication/state';
import {
  bearer,
  call,
  enrollInto,
  expectProblem,
  storeSnapshot,
  testRoot,
  type Enrolled,
  type Reply,
} from './support';

let root: Root;
let a: Enrolled;
let b: Enrolled;
let c: Enrolled;

const g = (groupId: string) => ({ groupId });
const member = (method: 'PUT' | 'DELETE', groupId: string, machineId: string) =>
  call(method === 'PUT' ? addMember : removeMember, {
    method,
    path: `consistency-groups/${groupId}/members/${machineId}`,
    params: { groupId, machineId },
  });
const cut = (groupId: string, body: unknown = {}) =>
  call(cutGroupBookmark, {
    path: `consistency-groups/${groupId}/bookmarks`,
    params: g(groupId),
    body,
  });
const pending = (m: Enrolled, credential = m.credential) =>
  call(pendingGroupBookmarks, {
    path: `machines/${m.machineId}/group-bookmarks`,
    params: { id: m.machineId },
    headers: bearer(credential),
  });

/** A member's recovery point for the bookmark, as the hydrator publishes it. */
const publish = (machineId: string, pointId: string, groupId: string) =>
  root.replication.deps.docs.points.create({
    id: pointId,
    type: 'point',
    machineId,
    time: new Date().toISOString(),
    consistency: 'crash',
    groupId,
    generation: 1,
    disks: [],
    publishedAt: new Date().toISOString(),
  } satisfies RecoveryPointDoc);

beforeAll(async () => {
  root = testRoot();
  await call(createSite, { path: 'sites', body: { name: 'dc' } });
  [a, b, c] = [await enrollInto('dc'), await enrollInto('dc'), await enrollInto('dc')];
});

describe('consistency groups over HTTP', () => {
  it('create, list, get, members; a machine in another group is a 409; bad input writes nothing', async () => {
    const r = await call(createGroup, {
      path: 'consistency-groups',
      body: { name: 'erp', description: 'ERP', members: [a.machineId] },
    });
    expect(r.status).toBe(201);
    expect(r.headers.location).toBe('/api/consistency-groups/erp');
    expect(r.json.members.map((m: { machineId: string }) => m.machineId)).toEqual([a.machineId]);
    expect((await member('PUT', 'erp', b.machineId)).status).toBe(201);
    expect((await member('PUT', 'erp', b.machineId)).status).toBe(200);
    const web = await call(createGroup, { path: 'consistency-groups', body: { name: 'web' } });
    expect(web.status).toBe(201);

    const before = await storeSnapshot(root);
    const refusals: [() => Promise<Reply>, number, string][] = [
      [() => member('PUT', 'web', a.machineId), 409, 'conflict'],
      [() => member('PUT', 'web', 'm-unknown'), 404, 'not-found'],
      [() => member('PUT', 'nope', c.machineId), 404, 'not-found'],
      [() => member('PUT', 'web', 'bad.id'), 400, 'validation'],
      [() => member('DELETE', 'web', a.machineId), 404, 'not-found'],
      [() => cut('web'), 409, 'conflict'], // no members
      [() => cut('erp', { consistency: 'fuzzy' }), 400, 'validation'],
      [() => cut('erp', { leadSeconds: 0 }), 400, 'validation'],
      [() => cut('erp', { leadSeconds: 1.5 }), 400, 'validation'],
      [() => cut('erp', 'not json'), 400, 'validation'],
      [() => cut('Bad Group'), 400, 'validation'],
      [() => cut('nope'), 404, 'not-found'],
      ...(
        [
          [{ name: 'erp' }, 409, 'conflict'],
          [{ name: 'x2', members: [c.machineId, b.machineId] }, 409, 'conflict'],
          [{ name: 'x3', members: [c.machineId, c.machineId] }, 400, 'validation'],
          [{ name: 'x4', members: ['m-unknown'] }, 404, 'not-found'],
          [{ name: 'Bad Name' }, 400, 'validation'],
          [{ name: 'x5', extra: 1 }, 400, 'validation'],
        ] as const
      ).map(
        ([body, status, kind]) =>
          [() => call(createGroup, { path: 'consistency-groups', body }), status, kind] as [
            () => Promise<Reply>,
            number,
            string,
          ],
      ),
      [
        () => call(getGroup, { path: 'consistency-groups/nope', params: g('nope') }),
        404,
        'not-found',
      ],
      [
        () =>
          call(deleteGroup, {
            method: 'DELETE',
            path: 'consistency-groups/nope',
            params: g('nope'),
          }),
        404,
        'not-found',
      ],
      [
        () =>
          call(getGroupPoint, {
            path: 'consistency-groups/erp/recovery-points/gb-none',
            params: { groupId: 'erp', pointId: 'gb-none' },
          }),
        404,
        'not-found',
      ],
      [
        () =>
          call(listGroupPoints, {
            path: 'consistency-groups/erp/recovery-points?state=maybe',
            params: g('erp'),
          }),
        400,
        'validation',
      ],
      [() => pending(a, b.credential), 403, 'forbidden'],
      [() => pending(a, 'hvm.x.y'), 401, 'unauthenticated'],
    ];
    for (const [req, status, kind] of refusals) expectProblem(await req(), status, kind);
    expect(await storeSnapshot(root)).toEqual(before);

    const list = await call(listGroups, { path: 'consistency-groups?limit=1' });
    expect(list.json.items.map((x: { id: string }) => x.id)).toEqual(['erp']);
    expect(list.headers.link).toContain('rel="next"');
    const got = await call(getGroup, { path: 'consistency-groups/erp', params: g('erp') });
    expect(got.json.members.map((m: { machineId: string }) => m.machineId)).toEqual(
      [a.machineId, b.machineId].sort(),
    );
  });

  it('a cut reaches each member at cut time; the group point is complete once all published it', async () => {
    const r = await cut('erp', { consistency: 'app', leadSeconds: 3 });
    expect(r.status).toBe(201);
    const bm = r.json;
    expect(Date.parse(bm.cutAt) - Date.parse(bm.createdAt)).toBe(3000);
    expect(bm.holdMs).toBe(100);
    expect(bm.members).toEqual([a.machineId, b.machineId].sort());
    // b leaves, c joins: cut 1 still needs b; c never sees it.
    expect((await member('DELETE', 'erp', b.machineId)).status).toBe(200);
    expect((await member('PUT', 'erp', c.machineId)).status).toBe(201);
    const seen = (await pending(a)).json;
    expect(seen.items).toEqual([
      {
        id: bm.id,
        groupId: 'erp',
        consistency: 'app',
        createdAt: bm.createdAt,
        cutAt: bm.cutAt,
        holdMs: 100,
      },
    ]);
    expect(Date.parse(seen.now)).toBeGreaterThanOrEqual(Date.parse(bm.createdAt)); // its clock
    expect((await pending(b)).json.items.map((x: { id: string }) => x.id)).toEqual([bm.id]);
    expect((await pending(c)).json.items).toEqual([]);

    const point = () =>
      call(getGroupPoint, {
        path: `consistency-groups/erp/recovery-points/${bm.id}`,
        params: { groupId: 'erp', pointId: bm.id },
      });
    expect((await point()).json).toMatchObject({ state: 'pending', missing: bm.members });
    await publish(a.machineId, bm.id, 'erp');
    expect((await pending(a)).json.items).toEqual([]); // published: forgotten
    expect((await point()).json).toMatchObject({ state: 'pending', missing: [b.machineId] });
    await publish(b.machineId, bm.id, 'erp');
    const done = await point();
    expect(done.json).toMatchObject({ state: 'complete', missing: [] });
    expect(done.json.machines.map((p: { machineId: string }) => p.machineId)).toEqual(bm.members);

    const cut2 = (await cut('erp')).json;
    expect(cut2.members).toEqual([a.machineId, c.machineId].sort());
    const list = async (q = '') =>
      (
        await call(listGroupPoints, {
          path: `consistency-groups/erp/recovery-points${q}`,
          params: g('erp'),
        })
      ).json.items.map((p: { id: string; state: string }) => [p.id, p.state]);
    expect(await list()).toEqual([
      [cut2.id, 'pending'],
      [bm.id, 'complete'],
    ]);
    expect(await list('?state=complete')).toEqual([[bm.id, 'complete']]);

    // Deleting the group frees its members and withdraws its pending cuts.
    const del = await call(deleteGroup, {
      method: 'DELETE',
      path: 'consistency-groups/erp',
      params: g('erp'),
    });
    expect(del.status).toBe(200);
    expect(del.json.members.map((m: { machineId: string }) => m.machineId)).toEqual(cut2.members);
    expect((await pending(c)).json.items).toEqual([]);
    expect((await member('PUT', 'web', a.machineId)).status).toBe(201);
  });

  it('is in the OpenAPI document', async () => {
    const r = await call(openApi, { path: 'openapi.json' });
    const paths = r.json.paths;
    expect(Object.keys(paths['/consistency-groups']).sort()).toEqual(['get', 'post']);
    expect(Object.keys(paths['/consistency-groups/{groupId}']).sort()).toEqual(['delete', 'get']);
    expect(Object.keys(paths['/consistency-groups/{groupId}/members/{machineId}']).sort()).toEqual([
      'delete',
      'put',
    ]);
    expect(paths['/consistency-groups/{groupId}/bookmarks'].post.responses['409']).toBeDefined();
    expect(paths['/consistency-groups/{groupId}/recovery-points/{pointId}'].get).toBeDefined();
    expect(paths['/machines/{id}/group-bookmarks'].get.security).toEqual([
      { machineCredential: [] },
    ]);
  });
});
