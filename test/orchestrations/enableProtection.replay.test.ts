import { describe, expect, it } from 'vitest';
import {
  CANCEL,
  ENABLE_PROTECTION,
  INITIAL_SYNC_COMPLETE,
  enableProtectionOrchestrator,
} from '../../orchestrations/enableProtection';
import { EnableProtectionActivity as A } from '../../orchestrations/activities/enableProtectionActivities';
import { ActionType, EventType } from '../../local/durable/history';
import { Replay } from './replayHarness';

const input = {
  machineId: 'm1',
  disks: ['d1', 'd2'],
  policy: 'default',
  initialSyncTimeoutMs: 60_000,
};
const disks = [
  { diskId: 'd1', sizeBytes: 10 * 1024 * 1024 },
  { diskId: 'd2', sizeBytes: 3 * 1024 * 1024 + 512 },
];

function respond(name: string, arg: Record<string, unknown>): unknown {
  switch (name) {
    case A.getDisks:
      return disks;
    case A.getSettings:
      return { initialSyncTimeoutMs: 5_000 };
    case A.createReplica:
      return { blob: `m1/${String(arg.diskId)}/g1.vhd`, created: true };
    case A.recordItem:
      return { created: false, state: 'enabling' };
    case A.setState:
      return arg.to;
    default:
      return true;
  }
}

/** Completes pending activities one episode at a time until the saga waits for something else. */
async function drain(
  r: Replay,
  calls: { name: string; input: Record<string, unknown> }[],
  fail?: (name: string, input: Record<string, unknown>) => string | undefined,
) {
  for (let guard = 0; guard < 200; guard++) {
    const next = r.activities()[0];
    if (!next) {
      const retryTimer = r.timers().find((t) => r.state.open[t.timerId]?.kind === 'retryTimer');
      if (!retryTimer) return;
      r.advance(60_000);
      await r.deliver([r.fire(retryTimer.timerId)]);
      continue;
    }
    const arg = JSON.parse(next.input ?? 'null') as Record<string, unknown>;
    calls.push({ name: next.name, input: arg });
    const err = fail?.(next.name, arg);
    await r.deliver([
      err ? r.fail(next.taskId, err) : r.complete(next.taskId, respond(next.name, arg)),
    ]);
  }
  throw new Error('saga did not settle');
}

const newSaga = () =>
  new Replay(enableProtectionOrchestrator, { instanceId: 'job_1', name: ENABLE_PROTECTION, input });

describe('enable-protection saga, replayed by the real SDK over synthetic histories', () => {
  it('first episode: a WhenAny tree of the job update and the Cancel wait (schema V4 actions)', async () => {
    const r = newSaga();
    await r.start();
    const actions = r.replies[0]!.actions[0]!;
    expect(actions).toHaveLength(1);
    expect(actions[0]!.actionType).toBe(ActionType.WhenAny);
    expect(
      actions[0]!.compoundActions!.map((a) => [
        a.actionType,
        a.functionName ?? a.externalEventName,
      ]),
    ).toEqual([
      [ActionType.CallActivityWithRetry, A.updateJob],
      [ActionType.WaitForExternalEvent, CANCEL],
    ]);
    expect(r.history.map((e) => e.EventType)).toEqual([
      EventType.OrchestratorStarted,
      EventType.ExecutionStarted,
      EventType.TaskScheduled,
      EventType.OrchestratorCompleted,
    ]);
  });

  it('happy path: replicas in parallel, record, initial-sync, then protected on InitialSyncComplete', async () => {
    const r = newSaga();
    await r.start();
    const calls: { name: string; input: Record<string, unknown> }[] = [];
    await drain(r, calls);
    expect(calls.map((c) => c.name)).toEqual([
      A.updateJob,
      A.getDisks,
      A.getSettings,
      A.createReplica,
      A.createReplica,
      A.ensureStaging,
      A.updateJob,
      A.recordItem,
      A.setState,
      A.updateJob,
    ]);
    expect(r.customStatus).toMatchObject({ step: 'initial-sync', percent: 50 });
    const timer = r.timers()[0]!;
    expect(new Date(timer.fireAt).getTime() - r.now.getTime()).toBe(60_000);
    // Two replicas created with deterministic inputs keyed by the instance id.
    expect(calls.filter((c) => c.name === A.createReplica).map((c) => c.input)).toEqual([
      expect.objectContaining({ machineId: 'm1', diskId: 'd1', owner: 'job_1', generation: 1 }),
      expect.objectContaining({ machineId: 'm1', diskId: 'd2', owner: 'job_1', generation: 1 }),
    ]);

    await r.deliver([r.raise(INITIAL_SYNC_COMPLETE, { bytes: 1 })]);
    await drain(r, calls);
    expect(calls.slice(10).map((c) => [c.name, c.input.to ?? c.input.state])).toEqual([
      [A.setState, 'protected'],
      [A.updateJob, 'succeeded'],
    ]);
    expect(r.outcome).toEqual({
      kind: 'completed',
      output: JSON.stringify({
        state: 'protected',
        replicas: ['m1/d1/g1.vhd', 'm1/d2/g1.vhd'],
        stalled: false,
      }),
    });
    expect(r.state.canceledTimers).toContain(timer.timerId); // the timeout timer was cancelled
  });

  it('without a timeout in the input, waits as long as the configured setting', async () => {
    const { initialSyncTimeoutMs: _omit, ...rest } = input;
    const r = new Replay(enableProtectionOrchestrator, {
      instanceId: 'job_2',
      name: ENABLE_PROTECTION,
      input: rest,
    });
    await r.start();
    await drain(r, []);
    expect(new Date(r.timers()[0]!.fireAt).getTime() - r.now.getTime()).toBe(5_000);
  });

  it('timeout: alert + initial-sync-stalled, keeps waiting, and still ends protected', async () => {
    const r = newSaga();
    await r.start();
    const calls: { name: string; input: Record<string, unknown> }[] = [];
    await drain(r, calls);
    const timer = r.timers()[0]!;
    r.advance(60_000);
    await r.deliver([r.fire(timer.timerId)]);
    await drain(r, calls);
    expect(r.outcome.kind).toBe('running');
    expect(r.customStatus).toMatchObject({
      step: 'initial-sync-stalled',
      state: 'initial-sync-stalled',
    });
    const alert = calls.find((c) => c.name === A.raiseAlert)!;
    expect(alert.input).toMatchObject({
      kind: 'initial-sync-stalled',
      jobId: 'job_1',
      machineId: 'm1',
    });
    await r.deliver([r.raise(INITIAL_SYNC_COMPLETE, null)]);
    await drain(r, calls);
    expect(calls.filter((c) => c.name === A.setState).map((c) => c.input.to)).toEqual([
      'initial-sync',
      'initial-sync-stalled',
      'initial-sync',
      'protected',
    ]);
    expect(JSON.parse((r.outcome as { output: string }).output)).toMatchObject({
      state: 'protected',
      stalled: true,
    });
  });

  it('InitialSyncComplete raised while the stall is being recorded is not lost', async () => {
    const r = newSaga();
    await r.start();
    const calls: { name: string; input: Record<string, unknown> }[] = [];
    await drain(r, calls);
    r.advance(60_000);
    await r.deliver([r.fire(r.timers()[0]!.timerId)]);
    // The event arrives with the alert's result, before the saga waits for it again.
    const alert = r.activities(A.raiseAlert)[0]!;
    await r.deliver([r.complete(alert.taskId, 'a'), r.raise(INITIAL_SYNC_COMPLETE, null)]);
    await drain(r, calls);
    expect(r.outcome.kind).toBe('completed');
    expect(calls.filter((c) => c.name === A.setState).map((c) => c.input.to)).toEqual([
      'initial-sync',
      'initial-sync-stalled',
      'initial-sync',
      'protected',
    ]);
  });

  it('Cancel raised before the first step: nothing is created, the job ends cancelled', async () => {
    const r = newSaga();
    await r.deliver([
      { kind: 'start', executionId: 'e1', name: ENABLE_PROTECTION, input: JSON.stringify(input) },
      r.raise(CANCEL, null),
    ]);
    const calls: { name: string; input: Record<string, unknown> }[] = [];
    await drain(r, calls);
    expect(calls.map((c) => [c.name, c.input.state])).toEqual([
      [A.updateJob, 'running'],
      [A.updateJob, 'cancelled'],
    ]);
    expect(JSON.parse((r.outcome as { output: string }).output)).toMatchObject({
      state: 'cancelled',
    });
  });

  it('Cancel while replicas are being created: waits for them, then deletes them in reverse order', async () => {
    const r = newSaga();
    await r.start();
    const calls: { name: string; input: Record<string, unknown> }[] = [];
    // Run until both createReplica activities are pending.
    for (let i = 0; i < 3; i++) {
      const a = r.activities()[0]!;
      calls.push({ name: a.name, input: JSON.parse(a.input!) as Record<string, unknown> });
      await r.deliver([r.complete(a.taskId, respond(a.name, {}))]);
    }
    expect(r.activities().map((a) => a.name)).toEqual([A.createReplica, A.createReplica]);
    await r.deliver([r.raise(CANCEL, { by: 'disable' })]);
    expect(r.outcome.kind).toBe('running'); // still waiting for the in-flight replicas
    await drain(r, calls);
    const after = calls.slice(3).map((c) => [c.name, c.input.diskId ?? c.input.state]);
    expect(after).toEqual([
      [A.createReplica, 'd1'],
      [A.createReplica, 'd2'],
      [A.deleteReplica, 'd2'],
      [A.deleteReplica, 'd1'],
      [A.updateJob, 'cancelled'],
    ]);
    expect(JSON.parse((r.outcome as { output: string }).output)).toMatchObject({
      state: 'cancelled',
    });
  });

  it('a step failing after its retries runs every compensation in reverse and fails the instance', async () => {
    const r = newSaga();
    await r.start();
    const calls: { name: string; input: Record<string, unknown> }[] = [];
    await drain(r, calls, (name, arg) =>
      name === A.setState && arg.to === 'initial-sync' ? 'cosmos down' : undefined,
    );
    const names = calls.map((c) => c.name);
    expect(names.filter((n) => n === A.setState)).toHaveLength(4); // RetryOptions(500, 4)
    expect(
      calls
        .slice(names.lastIndexOf(A.setState) + 1)
        .map((c) => [c.name, c.input.diskId ?? c.input.state ?? '']),
    ).toEqual([
      [A.releaseItem, ''],
      [A.deleteReplica, 'd2'],
      [A.deleteReplica, 'd1'],
      [A.updateJob, 'failed'],
    ]);
    expect(r.outcome.kind).toBe('failed');
    expect((r.outcome as { output: string }).output).toMatch(/cosmos down/);
    // Retry timers back off: 500 ms, 1 s, 2 s.
    const timers = r.history.filter((e) => e.EventType === EventType.TimerCreated);
    expect(timers.length).toBeGreaterThanOrEqual(4);
  });

  it('replaying a history under changed orchestrator code fails with a non-determinism error', async () => {
    const r = newSaga();
    await r.start();
    const calls: { name: string; input: Record<string, unknown> }[] = [];
    await drain(r, calls);
    const changed = new Replay(
      function* (ctx) {
        yield ctx.df.callActivity('SomethingElse');
      },
      { instanceId: 'job_1', name: ENABLE_PROTECTION, input },
    );
    changed.history = r.history;
    changed.state = r.state;
    await changed.deliver([changed.raise(INITIAL_SYNC_COMPLETE, null)]);
    expect(changed.outcome.kind).toBe('failed');
    expect((changed.outcome as { output: string }).output).toMatch(
      /Non-deterministic workflow detected: action #0/,
    );
  });
});
