import { describe, expect, it } from 'vitest';
import { deletePlan, getPlan } from '../../../functions/plans/plans';
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

// Running a plan: failover and test failover, one operation at a time, job actions, refusals
// that write nothing. The plan documents themselves are in plansCrud.test.ts.
describe('recovery plans API (handlers called as the host would)', () => {
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
