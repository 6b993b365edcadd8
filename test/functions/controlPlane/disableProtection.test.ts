import { describe, expect, it } from 'vitest';
import {
  api,
  durableStatus,
  finalJob,
  raise,
  replicaBlobs,
  waitForItemState,
  withProtectSaga,
  type HostChild,
} from '../../local/durable/sagaSupport';

// Disable protection end to end: the real host with the durable backend, Azurite and Cosmos.

const disable = (h: HostChild, machineId: string) =>
  api(h, 'POST', `/api/machines/${machineId}/disable-protection`);

function expectProblem(
  r: { status: number; json: { type?: string } },
  status: number,
  kind: string,
) {
  expect(r.status).toBe(status);
  expect(r.json.type).toBe(`https://haven.dev/problems/${kind}`);
}

describe('disable protection on the real host, Azurite and the Cosmos emulator', () => {
  it('during initial sync: Cancel runs the compensations; job cancelled, replicas gone, item disabled', () =>
    withProtectSaga({}, async (h, env, jobId) => {
      await waitForItemState(env, 'initial-sync');
      expect((await replicaBlobs(env)).length).toBe(2);

      const r = await disable(h, env.machineId);
      expect(r.status).toBe(202);
      expect(r.json.job.id).toBe(jobId);
      expect(r.json.item.machineId).toBe(env.machineId);

      const job = await finalJob(h, jobId);
      expect(job.state).toBe('cancelled');
      expect(await replicaBlobs(env)).toEqual([]);
      const item = (await env.root.controlPlane.protectedItems.get(env.machineId)).doc;
      expect(item.state).toBe('disabled');
      expect(item.history.map((c) => c.to)).toEqual([
        'enabling',
        'initial-sync',
        'disabling',
        'disabled',
      ]);
      expect(await durableStatus(h, jobId)).toMatchObject({
        runtimeStatus: 'Completed',
        output: { state: 'cancelled' },
      });

      // Idempotent: the same item and job, now finished.
      const again = await disable(h, env.machineId);
      expect(again.status).toBe(200);
      expect(again.json.job).toMatchObject({ id: jobId, state: 'cancelled' });
      expect(again.json.item).toEqual(item);
      expect((await disable(h, env.machineId)).json).toEqual(again.json);
    }));

  it('a protected item goes disabling → disabled under a job; refusals are 404/409 and change nothing', () =>
    withProtectSaga({}, async (h, env, enableJob) => {
      const items = env.root.controlPlane.protectedItems;
      const cp = env.root.controlPlane;
      const { token } = await cp.enrollment.issueToken('main', { ttlSeconds: 600 });
      const bare = (await cp.enrollment.enroll({ token, hostname: 'srv2', os: 'linux', disks: [] }))
        .machineId;
      expectProblem(await disable(h, 'm-nope'), 404, 'not-found');
      expectProblem(await disable(h, bare), 409, 'conflict');
      expect(await items.find(bare)).toBeUndefined();

      await waitForItemState(env, 'initial-sync');
      expect(await raise(h, enableJob, 'InitialSyncComplete')).toBe(202);
      expect((await finalJob(h, enableJob)).state).toBe('succeeded');

      // Wrong state: a failover in progress cannot be disabled.
      await items.transition(env.machineId, 'failing-over', { from: ['protected'] });
      const during = await items.get(env.machineId);
      const refused = await disable(h, env.machineId);
      expectProblem(refused, 409, 'conflict');
      expect(refused.json).toMatchObject({ from: 'failing-over', to: 'disabling' });
      expect((await items.get(env.machineId)).etag).toBe(during.etag);
      const disableJobs = async () =>
        (await cp.jobs.list()).items.filter((j) => j.doc.type === 'disable-protection');
      expect(await disableJobs()).toEqual([]); // the refused request's job was discarded
      await items.transition(env.machineId, 'protected', { from: ['failing-over'] });

      const r = await disable(h, env.machineId);
      expect(r.status).toBe(200);
      expect(r.json.job).toMatchObject({
        type: 'disable-protection',
        state: 'succeeded',
        machineId: env.machineId,
        progress: { percent: 100 },
      });
      expect(r.json.item).toMatchObject({ state: 'disabled', jobId: r.json.job.id });
      expect(r.json.item.history.slice(-2)).toMatchObject([
        { from: 'protected', to: 'disabling', jobId: r.json.job.id },
        { from: 'disabling', to: 'disabled', jobId: r.json.job.id },
      ]);
      expect((await api(h, 'GET', `/api/jobs/${r.json.job.id}`)).json).toEqual(r.json.job);
      // The enable saga's job is untouched.
      expect((await api(h, 'GET', `/api/jobs/${enableJob}`)).json.state).toBe('succeeded');

      const again = await disable(h, env.machineId);
      expect(again.status).toBe(200);
      expect(again.json).toEqual(r.json);
      expect(await disableJobs()).toHaveLength(1);
    }));
});
