import { describe, expect, it } from 'vitest';
import {
  addPlanAction,
  createPlan,
  deletePlan,
  getPlan,
  listPlans,
  putPlan,
} from '../../../functions/plans/plans';
import { recoverableMachine } from '../../support/recoverableMachine';
import { call, expectProblem, testRoot } from '../controlPlane/support';

async function setup(n = 3) {
  const root = testRoot();
  await root.ready();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await recoverableMachine(root, { sda: 1024 * 1024 }));
  return { root, ids };
}

const hook = {
  name: 'notify',
  kind: 'webhook',
  url: 'https://fn.example/api/dr?code=S3CRET',
  headers: { 'x-api-key': 'K3Y' },
};

// The plan documents: create, read, replace, add an action, list, delete. Running a plan
// (failover, test failover, job actions) is in planOperations.test.ts.
describe('recovery plans API (handlers called as the host would)', () => {
  it('CRUD with ETags; secrets redacted in every answer and kept on a PUT of the redacted view', async () => {
    const { root, ids } = await setup();
    const [a, b, c] = ids as [string, string, string];
    const created = await call(createPlan, {
      path: 'plans',
      body: {
        name: 'erp',
        groups: [
          { id: 1, machines: [a, b], pre: [hook] },
          { id: 2, machines: [c] },
        ],
      },
    });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe('/api/plans/erp');
    expect(JSON.stringify(created.json)).not.toMatch(/S3CRET|K3Y/);
    expect(created.json.groups[0].pre[0]).toMatchObject({
      url: 'https://fn.example/api/dr?code=***',
      headers: { 'x-api-key': '***' },
    });
    expectProblem(
      await call(createPlan, {
        path: 'plans',
        body: { name: 'erp', groups: [{ id: 1, machines: [a] }] },
      }),
      409,
      'conflict',
    );
    expectProblem(
      await call(createPlan, {
        path: 'plans',
        body: { name: 'x', groups: [{ id: 1, machines: ['m-nope'] }] },
      }),
      400,
      'validation',
    );
    expectProblem(
      await call(createPlan, {
        path: 'plans',
        body: {
          name: 'y',
          groups: [
            { id: 1, machines: [a] },
            { id: 2, machines: [a] },
          ],
        },
      }),
      400,
      'validation',
    );

    const got = await call(getPlan, { path: 'plans/erp', params: { name: 'erp' } });
    const { id: _i, name: _n, createdAt: _c, updatedAt: _u, run: _r, ...fields } = got.json;
    const put = await call(putPlan, {
      method: 'PUT',
      path: 'plans/erp',
      params: { name: 'erp' },
      body: { ...fields, maxParallel: 4 },
      headers: { 'if-match': got.headers.etag! },
    });
    expect(put.status).toBe(200);
    expect(put.json.maxParallel).toBe(4);
    const stored = (await root.plans.plans.get('erp')).doc.groups[0]!.pre[0]!;
    expect(stored).toMatchObject({
      url: 'https://fn.example/api/dr?code=S3CRET',
      headers: { 'x-api-key': 'K3Y' },
    });
    expectProblem(
      await call(putPlan, {
        method: 'PUT',
        path: 'plans/erp',
        params: { name: 'erp' },
        body: fields,
        headers: { 'if-match': got.headers.etag! },
      }),
      412,
      'precondition',
    );

    const added = await call(addPlanAction, {
      path: 'plans/erp/actions',
      params: { name: 'erp' },
      body: {
        group: 2,
        phase: 'post',
        action: { name: 'check', kind: 'health', timeoutSeconds: 60 },
      },
    });
    expect(added.status).toBe(201);
    expect(added.json.groups[1].post).toEqual([
      expect.objectContaining({
        name: 'check',
        kind: 'health',
        operations: ['test', 'planned', 'unplanned'],
      }),
    ]);
    expectProblem(
      await call(addPlanAction, {
        path: 'plans/erp/actions',
        params: { name: 'erp' },
        body: { group: 9, phase: 'pre', action: { name: 'w', kind: 'wait', seconds: 5 } },
      }),
      404,
      'not-found',
    );
    expectProblem(
      await call(addPlanAction, {
        path: 'plans/erp/actions',
        params: { name: 'erp' },
        body: { group: 1, phase: 'pre', action: { name: 'check', kind: 'wait', seconds: 5 } },
      }),
      400,
      'validation',
    );
    expect(
      (await call(listPlans, { path: 'plans' })).json.items.map((p: { name: string }) => p.name),
    ).toEqual(['erp']);
    // A machine may be in several plans.
    expect(
      (
        await call(createPlan, {
          path: 'plans',
          body: { name: 'web', groups: [{ id: 1, machines: [a] }] },
        })
      ).status,
    ).toBe(201);
    expect(
      (await call(deletePlan, { method: 'DELETE', path: 'plans/web', params: { name: 'web' } }))
        .status,
    ).toBe(200);
    expectProblem(
      await call(getPlan, { path: 'plans/web', params: { name: 'web' } }),
      404,
      'not-found',
    );
  });
});
