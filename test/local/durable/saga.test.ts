import { describe, expect, it } from 'vitest';
import { REPLICATION_ALERTS } from '../../../core/replication/state';
import {
  api,
  durableStatus,
  finalJob,
  raise,
  effectLines,
  replicaBlobs,
  waitUntil,
  waitForItemState,
  withProtectSaga,
} from './sagaSupport';

describe('enable-protection saga on the real host, Azurite and the Cosmos emulator', () => {
  it('protect starts the saga; InitialSyncComplete makes the item protected; the job shows progress', () =>
    withProtectSaga({}, async (h, env, jobId) => {
      await waitForItemState(env, 'initial-sync');
      const running = await waitUntil('job progress', async () => {
        const j = (await api(h, 'GET', `/api/jobs/${jobId}`)).json;
        return j?.progress?.step === 'initial-sync' ? j : undefined;
      });
      expect(running).toMatchObject({
        state: 'running',
        instanceId: jobId,
        progress: { percent: 50, step: 'initial-sync' },
      });
      expect((await durableStatus(h, jobId))!.customStatus).toMatchObject({
        step: 'initial-sync',
        percent: 50,
      });
      expect(await raise(h, jobId, 'InitialSyncComplete', { disks: 2 })).toBe(202);
      const job = await finalJob(h, jobId);
      expect(job).toMatchObject({ state: 'succeeded', progress: { percent: 100 } });
      const item = (await env.root.controlPlane.protectedItems.get(env.machineId)).doc;
      expect(item.state).toBe('protected');
      expect(item.history.map((c) => c.to)).toEqual(['enabling', 'initial-sync', 'protected']);
      expect(await replicaBlobs(env)).toEqual([
        { name: `${env.machineId}/sda/g1.vhd`, footerOk: true },
        { name: `${env.machineId}/sdb/g1.vhd`, footerOk: true },
      ]);
      const st = await durableStatus(h, jobId);
      expect(st!.runtimeStatus).toBe('Completed');
    }));

  it('a step that keeps failing compensates: no replica left, item disabled, job failed', () =>
    withProtectSaga(
      { DURABLE_FAIL_ACTIVITY: 'EnableProtection_SetState' },
      async (h, env, jobId) => {
        const job = await finalJob(h, jobId);
        expect(job.state).toBe('failed');
        expect(job.error.message).toMatch(/injected failure of EnableProtection_SetState/);
        expect(await replicaBlobs(env)).toEqual([]);
        const item = (await env.root.controlPlane.protectedItems.get(env.machineId)).doc;
        expect(item.state).toBe('disabled');
        expect((await durableStatus(h, jobId))!.runtimeStatus).toBe('Failed');
        // Replicas were created before the failure and deleted by the compensation.
        expect(
          effectLines(env).filter((l) => l.startsWith('EnableProtection_CreateReplica|')),
        ).toHaveLength(2);
        expect(
          effectLines(env).filter((l) => l.startsWith('EnableProtection_DeleteReplica|')),
        ).toHaveLength(2);
      },
    ));

  it('Cancel during initial sync runs the compensations and ends the job cancelled', () =>
    withProtectSaga({}, async (h, env, jobId) => {
      await waitForItemState(env, 'initial-sync');
      expect((await replicaBlobs(env)).length).toBe(2);
      expect(await raise(h, jobId, 'Cancel', { by: 'disable-protection' })).toBe(202);
      const job = await finalJob(h, jobId);
      expect(job.state).toBe('cancelled');
      expect(await replicaBlobs(env)).toEqual([]);
      expect((await env.root.controlPlane.protectedItems.get(env.machineId)).doc.state).toBe(
        'disabled',
      );
      const st = await durableStatus(h, jobId);
      expect(st).toMatchObject({ runtimeStatus: 'Completed', output: { state: 'cancelled' } });
    }));

  it('initial sync slower than the configured timeout: alert, initial-sync-stalled, then protected', () =>
    withProtectSaga({ HAVEN_INITIAL_SYNC_TIMEOUT_SECONDS: '1' }, async (h, env, jobId) => {
      await waitForItemState(env, 'initial-sync-stalled');
      const alert = await env.root.documents
        .collection<{ id: string; kind: string; machineId: string }>(REPLICATION_ALERTS)
        .get(env.machineId, `${jobId}:initial-sync-stalled`);
      expect(alert?.doc).toMatchObject({ kind: 'initial-sync-stalled', machineId: env.machineId });
      expect(await raise(h, jobId, 'InitialSyncComplete')).toBe(202);
      expect((await finalJob(h, jobId)).state).toBe('succeeded');
      const item = (await env.root.controlPlane.protectedItems.get(env.machineId)).doc;
      expect(item.history.map((c) => c.to)).toEqual([
        'enabling',
        'initial-sync',
        'initial-sync-stalled',
        'initial-sync',
        'protected',
      ]);
    }));
});
