import { describe, expect, it } from 'vitest';
import { api, finalJob, waitUntil } from './sagaSupport';
import { addPoint, leftovers, recoveryEnv, runOp, spawnRecoveryHost } from './recoverySupport';

describe('recovery sagas on the durable backend (file-backed target)', () => {
  it('test failover → cleanup; failover → change point → commit; refusals change nothing', async () => {
    const env = await recoveryEnv(['p1', 'p2']);
    const h = await spawnRecoveryHost(env);
    try {
      const base = `/api/machines/${env.machineId}`;
      const test = await runOp(h, env, 'test-failover', { point: 'p1' });
      expect(test).toMatchObject({
        state: 'succeeded',
        allowedActions: ['cleanup'],
        result: { pointId: 'p1' },
      });
      expect(test.steps.map((s: { state: string }) => s.state)).toEqual(
        Array(test.steps.length).fill('succeeded'),
      );
      let status = (await api(h, 'GET', `${base}/failover`)).json;
      expect(status).toMatchObject({
        state: 'protected',
        test: true,
        pointId: 'p1',
        testFailover: { state: 'ready' },
      });
      expect(await leftovers(env)).toContain(`virtualNetworks/haven-${env.machineId}-test-vnet`);
      // Reported on the machine too.
      expect((await api(h, 'GET', base)).json.recovery).toMatchObject({
        testFailover: { jobId: test.id, state: 'ready', expired: false },
        failover: null,
      });
      // One test at a time.
      expect((await api(h, 'POST', `${base}/test-failover`, {})).status).toBe(409);
      await runOp(h, env, 'test-failover-cleanup');
      expect(await leftovers(env)).toEqual([]);
      expect((await api(h, 'GET', `${base}/failover`)).json).toMatchObject({
        test: false,
        vm: null,
        testFailover: null,
      });

      // Refusals: unknown point, commit before failover.
      expect((await api(h, 'POST', `${base}/failover`, { point: 'nope' })).status).toBe(404);
      expect((await api(h, 'POST', `${base}/commit`, {})).status).toBe(409);

      const f = await runOp(h, env, 'failover', { point: 'p1' });
      expect(f).toMatchObject({
        state: 'succeeded',
        allowedActions: ['change-point', 'commit', 'cancel'],
      });
      status = (await api(h, 'GET', `${base}/failover`)).json;
      expect(status).toMatchObject({ state: 'failed-over', test: false, pointId: 'p1' });
      const ip = status.failover.vm.privateIp;
      const disksBefore = (await leftovers(env)).filter((x) => x.startsWith('disks/'));

      const c = await runOp(h, env, 'change-recovery-point', { point: 'p2' });
      expect(c).toMatchObject({
        state: 'succeeded',
        result: { pointId: 'p2', previousPointId: 'p1' },
      });
      status = (await api(h, 'GET', `${base}/failover`)).json;
      expect(status).toMatchObject({ state: 'failed-over', pointId: 'p2' });
      expect(status.failover.vm.privateIp).toBe(ip); // same NIC, same IP
      const disksAfter = (await leftovers(env)).filter((x) => x.startsWith('disks/'));
      expect(disksAfter).toHaveLength(2);
      expect(disksAfter.some((d) => disksBefore.includes(d))).toBe(false); // old disks gone

      await runOp(h, env, 'commit');
      expect((await api(h, 'GET', `${base}/failover`)).json).toMatchObject({
        state: 'committed',
        pointId: 'p2',
      });
      expect((await api(h, 'POST', `${base}/cancel-failover`, {})).status).toBe(409);
    } finally {
      await h.stop();
    }
  });

  it('planned failover: the agent is asked for a final bookmark; the failover uses that point', async () => {
    const env = await recoveryEnv(['p1']);
    const h = await spawnRecoveryHost(env);
    try {
      const r = await api(h, 'POST', `/api/machines/${env.machineId}/failover`, { planned: true });
      expect(r.status).toBe(202);
      const want = await waitUntil(
        'final bookmark request',
        async () => (await env.root.recovery.records.get(env.machineId)).failover?.finalBookmark,
      );
      expect(want.id).toBe(`final-${r.json.id as string}`);
      // The agent's bookmark arrives and is hydrated: a point with that id (newer than p1).
      await addPoint(env, want.id);
      const job = await finalJob(h, r.json.id as string);
      expect(job).toMatchObject({ state: 'succeeded', result: { pointId: want.id } });
      expect(job.steps[0]).toMatchObject({ name: 'final-bookmark', state: 'succeeded' });
    } finally {
      await h.stop();
    }
  });

  it('cancel deletes what failover made and the machine is protected again', async () => {
    const env = await recoveryEnv(['p1']);
    const h = await spawnRecoveryHost(env);
    try {
      await runOp(h, env, 'failover');
      expect((await leftovers(env)).length).toBeGreaterThan(0);
      const k = await runOp(h, env, 'cancel-failover');
      expect(k.state).toBe('succeeded');
      expect(await leftovers(env)).toEqual([]);
      const item = await env.root.controlPlane.protectedItems.get(env.machineId);
      expect(item.doc.state).toBe('protected');
    } finally {
      await h.stop();
    }
  });
});
