import { describe, expect, it } from 'vitest';
import {
  addPlanAction,
  createPlan,
  deletePlan,
  getPlan,
  listPlans,
  putPlan,
} from '../../../functions/plans/plans';
import { planFailover, planTestFailover } from '../../../functions/plans/planOperations';
import { cancelJob, restartJob, resumeJob } from '../../../functions/plans/jobActions';
import { planCollections } from '../../../core/plans/model';
import { recoveryCollections } from '../../../core/recovery/model';
import { recoverableMachine } from '../../support/recoverableMachine';
import { call, expectProblem, storeSnapshot, testRoot } from '../controlPlane/support';

async function setup(n = 3) {
  const root = testRoot();
  await root.ready();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await recoverableMachine(root, { sda: 1024 * 1024 }));
  return { root, ids };
}

/** Every stored document (id + ETag), to prove a refusal wrote nothing. */
async function everything(root: Awaited<ReturnType<typeof setup>>['root']) {
  const out = await storeSnapshot(root);
  for (const def of [...recoveryCollections, ...planCollections]) {
    const page = await root.documents.collection(def).query({ limit: 1000 });
    out.push(...page.items.map((x) => `${def.name}/${x.doc.id}@${x.etag}`));
  }
  return out.sort();
}

const hook = {
  name: 'notify',
  kind: 'webhook',
  url: 'https://fn.example/api/dr?code=S3CRET',
  headers: { 'x-api-key': 'K3Y' },
};

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

  it('operations: 202 + Location, Idempotency-Key, one operation at a time, refusals write nothing', async () => {
    const { root, ids } = await setup(2);
    await root.plans.plans.create({
      name: 'erp',
      groups: [{ id: 1, machines: ids, pre: [], post: [] }],
      pointChoice: 'latest',
      maxParallel: 10,
    });
    const before = await everything(root);
    expectProblem(
      await call(planTestFailover, {
        path: 'plans/nope/test-failover',
        params: { name: 'nope' },
        body: {},
      }),
      404,
      'not-found',
    );
    // latest-group: the machines are in no consistency group: latest for each (the plan starts).
    expectProblem(
      await call(planFailover, {
        path: 'plans/erp/failover',
        params: { name: 'erp' },
        body: { planned: 'yes' },
      }),
      400,
      'validation',
    );
    expect(await everything(root)).toEqual(before);

    const key = { 'idempotency-key': 'k-1' };
    const first = await call(planTestFailover, {
      path: 'plans/erp/test-failover',
      params: { name: 'erp' },
      body: {},
      headers: key,
    });
    expect(first.status).toBe(202);
    expect(first.headers.location).toBe(`/api/jobs/${first.json.id}`);
    expect(first.json).toMatchObject({
      type: 'plan-test-failover',
      state: 'queued',
      startedBy: 'admin',
      allowedActions: ['cancel'],
    });
    expect(first.json.steps.map((s: { name: string }) => s.name)).toEqual(['group 1']);
    expect(first.json.result.input.points).toEqual(
      Object.fromEntries(ids.map((m) => [m, 'latest'])),
    );
    const again = await call(planTestFailover, {
      path: 'plans/erp/test-failover',
      params: { name: 'erp' },
      body: {},
      headers: key,
    });
    expect(again.status).toBe(200);
    expect(again.json.id).toBe(first.json.id);
    expectProblem(
      await call(planTestFailover, {
        path: 'plans/erp/test-failover',
        params: { name: 'erp' },
        body: { point: 'latest' },
        headers: key,
      }),
      409,
      'conflict',
    );
    // Another operation while it is claimed: refused (a queued job of the same operation is offered again).
    const busy = await call(planFailover, {
      path: 'plans/erp/failover',
      params: { name: 'erp' },
      body: {},
    });
    expectProblem(busy, 409, 'conflict');
    expect(busy.json.jobId).toBe(first.json.id);
    expectProblem(
      await call(deletePlan, { method: 'DELETE', path: 'plans/erp', params: { name: 'erp' } }),
      409,
      'conflict',
    );
    const plan = await call(getPlan, { path: 'plans/erp', params: { name: 'erp' } });
    expect(plan.json.run.active).toMatchObject({
      jobId: first.json.id,
      operation: 'test-failover',
      automated: false,
    });

    // Job actions: nothing waits for a manual action, a queued job has nothing to restart, a
    // machine's own recovery job is not controlled here.
    expectProblem(
      await call(resumeJob, {
        path: `jobs/${first.json.id}/resume`,
        params: { id: first.json.id },
        body: {},
      }),
      409,
      'conflict',
    );
    expectProblem(
      await call(restartJob, {
        path: `jobs/${first.json.id}/restart`,
        params: { id: first.json.id },
        body: {},
      }),
      409,
      'conflict',
    );
    const machineJob = await root.controlPlane.jobs.create('failover', {
      machineId: ids[0]!,
      allowedActions: ['cancel'],
    });
    expectProblem(
      await call(cancelJob, {
        path: `jobs/${machineJob.id}/cancel`,
        params: { id: machineJob.id },
        body: {},
      }),
      409,
      'conflict',
    );

    // Released: the next operation may start.
    await root.plans.service.release('erp', first.json.id);
    expect(
      (await call(planFailover, { path: 'plans/erp/failover', params: { name: 'erp' }, body: {} }))
        .status,
    ).toBe(202);
  });

  it('latest-group without a complete barrier cut refuses the whole operation and writes nothing', async () => {
    const { root, ids } = await setup(2);
    await root.controlPlane.groups.create({ name: 'erp-db', members: ids });
    await root.plans.plans.create({
      name: 'erp',
      groups: [{ id: 1, machines: ids, pre: [], post: [] }],
      pointChoice: 'latest-group',
      maxParallel: 10,
    });
    const before = await everything(root);
    const r = await call(planFailover, {
      path: 'plans/erp/failover',
      params: { name: 'erp' },
      body: {},
    });
    expectProblem(r, 409, 'conflict');
    expect(r.json.detail).toContain("consistency group 'erp-db'");
    expect(await everything(root)).toEqual(before);
  });
});
