import { describe, expect, it } from 'vitest';
import { HubStore } from '../../../local/durable/store';
import { api, waitUntil } from './sagaSupport';
import { leftovers } from './recoverySupport';
import {
  finalJob,
  jobIn,
  planEnv,
  spawnPlansHost,
  startPlanOp,
  webhookServer,
} from './planSupport';

describe('recovery plans on the durable backend (file-backed target)', () => {
  it(
    '3 groups: webhook, health, a manual action resumed through the API; a job tree; cleanup leaves nothing',
    { timeout: 120_000 },
    async () => {
      const env = await planEnv(3);
      const [m1, m2, m3] = env.machines as [string, string, string];
      const hooks = await webhookServer();
      const h = await spawnPlansHost(env);
      try {
        const created = await api(h, 'POST', '/api/plans', {
          name: 'erp',
          groups: [
            {
              id: 1,
              machines: [m1],
              pre: [
                {
                  name: 'notify',
                  kind: 'webhook',
                  url: `${hooks.url}/hook?code=S3CRET`,
                  headers: { 'x-api-key': 'K3Y' },
                },
              ],
              post: [{ name: 'db-up', kind: 'health', timeoutSeconds: 30 }],
            },
            { id: 2, machines: [m2] },
            {
              id: 3,
              machines: [m3],
              pre: [{ name: 'approve', kind: 'manual', instructions: 'check the app' }],
            },
          ],
        });
        expect(created.status).toBe(201);
        const jobId = await startPlanOp(h, 'erp', 'test-failover');
        const waiting = await jobIn(h, jobId, ['waiting-for-manual-action', 'failed', 'succeeded']);
        expect(waiting).toMatchObject({
          state: 'waiting-for-manual-action',
          allowedActions: ['resume', 'cancel'],
          progress: { step: 'group 3 pre approve' },
        });
        const byId = (j: { result: { machines: { machineId: string; state: string }[] } }) =>
          Object.fromEntries(j.result.machines.map((m) => [m.machineId, m.state]));
        expect(byId(waiting)).toEqual({ [m1]: 'succeeded', [m2]: 'succeeded', [m3]: 'pending' });
        // Resumed by a person, with a comment.
        const resumed = await api(h, 'POST', `/api/jobs/${jobId}/resume`, {
          comment: 'app checked',
        });
        expect(resumed.status).toBe(202);
        const job = await finalJob(h, jobId, [
          'succeeded',
          'partially-succeeded',
          'failed',
          'cancelled',
        ]);
        expect(job).toMatchObject({
          state: 'succeeded',
          allowedActions: [],
          result: { summary: { succeeded: 3 } },
        });
        expect(job.result.manual).toEqual([
          expect.objectContaining({
            step: 'group 3 pre approve',
            by: 'admin',
            comment: 'app checked',
            outcome: 'resumed',
          }),
        ]);
        expect(
          job.result.actions.map((a: { name: string; state: string }) => `${a.name}:${a.state}`),
        ).toEqual(['notify:succeeded', 'db-up:succeeded', 'approve:succeeded']);
        expect(
          job.steps.map((s: { name: string; state: string }) => `${s.name}:${s.state}`),
        ).toEqual([
          'group 1 pre notify:succeeded',
          'group 1:succeeded',
          'group 1 post db-up:succeeded',
          'group 2:succeeded',
          'group 3 pre approve:succeeded',
          'group 3:succeeded',
        ]);
        // A tree: each machine's own test-failover job is a child of the plan job.
        for (const m of job.result.machines) {
          const child = (await api(h, 'GET', `/api/jobs/${m.jobId}`)).json;
          expect(child).toMatchObject({
            type: 'test-failover',
            state: 'succeeded',
            parentJobId: jobId,
            startedBy: `job:${jobId}`,
            machineId: m.machineId,
          });
        }
        // The webhook got the ASR-like context, its header, an idempotency key; the key in its
        // URL is nowhere in the orchestration history or the job.
        expect(hooks.got).toHaveLength(1);
        expect(hooks.got[0]!.url).toBe('/hook?code=S3CRET');
        expect(hooks.got[0]!.headers).toMatchObject({
          'x-api-key': 'K3Y',
          'idempotency-key': `${jobId}:1:notify`,
        });
        expect(hooks.got[0]!.body).toMatchObject({
          plan: 'erp',
          jobId,
          operation: 'test-failover',
          failoverType: 'Test',
          group: { id: 1, machines: [m1] },
          phase: 'pre',
        });
        const store = new HubStore(env.settings.AzureWebJobsStorage!, env.hub);
        const inst = (await store.getInstance(jobId))!;
        const history = JSON.stringify(await store.readHistory(jobId, inst.executionId, inst.ep));
        expect(history).toContain('notify');
        expect(history).not.toMatch(/S3CRET|K3Y/);
        expect(JSON.stringify(job)).not.toMatch(/S3CRET|K3Y/);

        // The plan is free again; cleanup runs every machine's cleanup and leaves nothing.
        const cleanup = await startPlanOp(h, 'erp', 'test-failover-cleanup');
        expect(
          (await finalJob(h, cleanup, ['succeeded', 'partially-succeeded', 'failed'])).state,
        ).toBe('succeeded');
        expect(await leftovers(env)).toEqual([]);
        const plan = (await api(h, 'GET', '/api/plans/erp')).json;
        expect(plan.run?.active).toBeUndefined();
      } finally {
        await h.stop();
        await hooks.close();
      }
    },
  );

  it(
    'a machine failing mid-plan: partially-succeeded with each outcome; restart runs just that machine',
    { timeout: 120_000 },
    async () => {
      const env = await planEnv(3);
      const h = await spawnPlansHost(env);
      try {
        expect(
          (
            await api(h, 'POST', '/api/plans', {
              name: 'web',
              maxParallel: 1,
              groups: [{ id: 1, machines: env.machines }],
            })
          ).status,
        ).toBe(201);
        // The second VM created fails (one at a time: the second machine's).
        env.target.setFaults([
          {
            op: 'put:Microsoft.Compute/virtualMachines',
            nth: 2,
            mode: 'lro-fail',
            code: 'InjectedFault',
          },
        ]);
        const jobId = await startPlanOp(h, 'web', 'failover', { point: 'latest-processed' });
        const job = await finalJob(h, jobId, ['succeeded', 'partially-succeeded', 'failed']);
        expect(job).toMatchObject({ state: 'partially-succeeded', allowedActions: ['restart'] });
        const states = job.result.machines.map((m: { state: string }) => m.state);
        expect(states).toEqual(['succeeded', 'failed', 'succeeded']);
        const failed = job.result.machines[1];
        expect(failed.error).toMatch(/inject/i);
        expect((await env.root.controlPlane.protectedItems.get(failed.machineId)).doc.state).toBe(
          'protected',
        );
        env.target.setFaults([]);
        const restart = await api(h, 'POST', `/api/jobs/${jobId}/restart`, {});
        expect(restart.status).toBe(202);
        const again = await finalJob(h, restart.json.id, [
          'succeeded',
          'partially-succeeded',
          'failed',
        ]);
        expect(again).toMatchObject({
          state: 'succeeded',
          result: { input: { restartOf: jobId } },
        });
        expect(again.result.machines.map((m: { machineId: string }) => m.machineId)).toEqual([
          failed.machineId,
        ]);
        for (const m of env.machines)
          expect((await env.root.controlPlane.protectedItems.get(m)).doc.state).toBe('failed-over');
        // Each machine has exactly one VM.
        const vms = (await leftovers(env)).filter((x) => x.startsWith('virtualMachines/'));
        expect(vms).toHaveLength(3);
        // Commit the plan.
        const commit = await startPlanOp(h, 'web', 'commit');
        expect(
          (await finalJob(h, commit, ['succeeded', 'partially-succeeded', 'failed'])).state,
        ).toBe('succeeded');
      } finally {
        await h.stop();
      }
    },
  );

  it(
    'the host killed while a plan waits: a new host resumes it to the end',
    { timeout: 120_000 },
    async () => {
      const env = await planEnv(2);
      let h = await spawnPlansHost(env);
      try {
        await api(h, 'POST', '/api/plans', {
          name: 'app',
          groups: [
            {
              id: 1,
              machines: [env.machines[0]],
              post: [{ name: 'settle', kind: 'wait', seconds: 3 }],
            },
            { id: 2, machines: [env.machines[1]] },
          ],
        });
        const jobId = await startPlanOp(h, 'app', 'test-failover');
        await waitUntil('the wait action', async () => {
          const j = (await api(h, 'GET', `/api/jobs/${jobId}`)).json;
          return j.progress?.step === 'group 1 post settle' ? true : undefined;
        });
        await h.kill();
        h = await spawnPlansHost(env);
        const job = await finalJob(h, jobId, ['succeeded', 'partially-succeeded', 'failed']);
        expect(job.state).toBe('succeeded');
        const vms = (await leftovers(env)).filter((x) => x.startsWith('virtualMachines/'));
        expect(vms).toHaveLength(2);
      } finally {
        await h.stop();
      }
    },
  );
});
