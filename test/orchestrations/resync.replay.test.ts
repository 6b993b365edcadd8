import { describe, expect, it } from 'vitest';
import { CANCEL, INITIAL_SYNC_COMPLETE } from '../../orchestrations/enableProtection';
import { RESYNC, resyncOrchestrator } from '../../orchestrations/resync';
import { EnableProtectionActivity as P } from '../../orchestrations/activities/enableProtectionActivities';
import { ResyncActivity as A } from '../../orchestrations/activities/resyncActivities';
import { Replay } from './replayHarness';

const input = { machineId: 'm1', diskId: 'd1', generation: 2, sizeBytes: 8 * 2 ** 20 };

/** Completes activities until the saga waits; `checks` answers Resync_Check in turn. */
async function drain(
  r: Replay,
  calls: { name: string; input: Record<string, unknown> }[],
  checks: boolean[],
) {
  for (let guard = 0; guard < 50; guard++) {
    const next = r.activities()[0];
    if (!next) return;
    const arg = JSON.parse(next.input ?? 'null') as Record<string, unknown>;
    calls.push({ name: next.name, input: arg });
    const result =
      next.name === A.check
        ? { done: checks.shift() ?? false, pending: [], state: 'initial-sync' }
        : next.name === A.getSettings
          ? { recheckMs: 60_000 }
          : next.name === P.createReplica
            ? { blob: 'm1/d1/g2.vhd', created: true }
            : true;
    await r.deliver([r.complete(next.taskId, result)]);
  }
  throw new Error('saga did not settle');
}

const newSaga = () => new Replay(resyncOrchestrator, { instanceId: 'job_r', name: RESYNC, input });

describe('resync saga, replayed by the real SDK over synthetic histories', () => {
  it('creates generation 2 replica, then checks on each point (and on a timer) until done', async () => {
    const r = newSaga();
    const calls: { name: string; input: Record<string, unknown> }[] = [];
    const checks = [false, false, true];
    await r.start();
    await drain(r, calls, checks);
    expect(calls.map((c) => c.name)).toEqual([
      P.updateJob,
      A.getSettings,
      P.createReplica,
      P.ensureStaging,
      P.updateJob,
      A.check,
    ]);
    expect(calls[2]!.input).toMatchObject({
      machineId: 'm1',
      diskId: 'd1',
      generation: 2,
      sizeBytes: input.sizeBytes,
      owner: 'job_r',
    });
    expect(r.outcome.kind).toBe('running');

    // A point that is not yet the new generation's: check again, keep waiting.
    await r.deliver([r.raise(INITIAL_SYNC_COMPLETE, { pointId: 'p1' })]);
    await drain(r, calls, checks);
    expect(r.outcome.kind).toBe('running');
    // No event: the timer looks again.
    const timer = r.timers().at(-1)!;
    r.advance(60_000);
    await r.deliver([r.fire(timer.timerId)]);
    await drain(r, calls, checks);
    expect(calls.filter((c) => c.name === A.check)).toHaveLength(3);
    expect(calls.at(-1)).toMatchObject({
      name: P.updateJob,
      input: { state: 'succeeded', step: 'resynced' },
    });
    expect(r.outcome.kind).toBe('completed');
  });

  it('Cancel ends it with the job cancelled', async () => {
    const r = newSaga();
    const calls: { name: string; input: Record<string, unknown> }[] = [];
    await r.start();
    await drain(r, calls, [false]);
    await r.deliver([r.raise(CANCEL, { by: 'test' })]);
    await drain(r, calls, []);
    expect(calls.at(-1)).toMatchObject({ name: P.updateJob, input: { state: 'cancelled' } });
    expect(r.outcome.kind).toBe('completed');
  });
});
