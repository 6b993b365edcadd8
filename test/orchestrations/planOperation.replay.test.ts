import { describe, expect, it } from 'vitest';
import { PLAN_OPERATION, planOperationOrchestrator } from '../../orchestrations/planOperation';
import { defaultActivity, drive, lastResult, planInput, type Call } from './planReplay';
import type { MachineOutcome } from '../../core/plans/planOutcome';
import type { Replay } from './replayHarness';

const threeGroups = {
  groups: [
    {
      id: 1,
      machines: ['db1', 'db2'],
      pre: [{ name: 'notify', kind: 'webhook', url: 'https://hooks.example/run?code=SECRET' }],
      post: [{ name: 'db-health', kind: 'health' }],
    },
    {
      id: 2,
      machines: ['app1', 'app2', 'app3'],
      post: [{ name: 'settle', kind: 'wait', seconds: 30 }],
    },
    {
      id: 3,
      machines: ['lb'],
      pre: [
        {
          name: 'approve',
          kind: 'manual',
          instructions: 'Check the app, then resume',
          timeoutSeconds: 600,
        },
      ],
    },
  ],
};

const names = (calls: Call[]) =>
  calls.map((c) =>
    c.name === 'Plan_StartMachine' ? `start:${String(c.input.machineId)}` : c.name,
  );
const jobStates = (calls: Call[]) =>
  calls.filter((c) => c.name === 'Recovery_Job' && c.input.state).map((c) => c.input.state);
const last = (calls: Call[]) => calls.filter((c) => c.name === 'Recovery_Job').at(-1)!.input;
const waitingStep = (calls: Call[]) => {
  const w = calls.filter(
    (c) => c.name === 'Recovery_Job' && c.input.state === 'waiting-for-manual-action',
  );
  return w.length ? String(w.at(-1)!.input.stepName) : undefined;
};

/** A person resumes each manual step once it waits (the resume names the step, as the API does). */
const resumer =
  (answered = new Set<string>()) =>
  (r: Replay, calls: Call[]) => {
    const step = waitingStep(calls);
    if (!step || answered.has(step)) return undefined;
    answered.add(step);
    return [
      r.raise('JobControl', {
        action: 'resume',
        step,
        by: 'admin',
        comment: 'looks good',
        at: '2026-01-01T00:01:00Z',
      }),
    ];
  };

describe('plan operation saga, replayed by the real SDK', () => {
  it('groups in order: pre-actions, machines as sub-orchestrations, post-actions; manual resume; secrets never in the history', async () => {
    const input = planInput(threeGroups);
    const { r, calls, subs } = await drive(planOperationOrchestrator, PLAN_OPERATION, input, {
      idle: resumer(),
      subsOneAtATime: true,
    });
    expect(r.outcome.kind).toBe('completed');
    const seq = names(calls).filter((n) => !['Recovery_Job', 'Plan_Facts'].includes(n));
    const at = (n: string) => seq.indexOf(n);
    expect(at('Plan_Webhook')).toBeLessThan(at('start:db1'));
    expect(Math.max(at('start:db1'), at('start:db2'))).toBeLessThan(at('Plan_Probe'));
    expect(seq.lastIndexOf('Plan_Probe')).toBeLessThan(at('start:app1'));
    expect(at('start:app3')).toBeLessThan(at('start:lb'));
    expect(seq.at(-1)).toBe('Plan_Release');
    // Each machine ran as a sub-orchestration whose instance id is its job id.
    expect(subs.map((s) => s.instanceId)).toEqual([
      'job-db1',
      'job-db2',
      'job-app1',
      'job-app2',
      'job-app3',
      'job-lb',
    ]);
    // The manual action paused the job, the resume was audited, the job ended succeeded.
    expect(jobStates(calls)).toEqual([
      'running',
      'waiting-for-manual-action',
      'running',
      'succeeded',
    ]);
    expect(lastResult(calls, 'manual')).toEqual([
      {
        step: 'group 3 pre approve',
        by: 'admin',
        at: '2026-01-01T00:01:00Z',
        comment: 'looks good',
        outcome: 'resumed',
      },
    ]);
    const machines = lastResult(calls, 'machines') as MachineOutcome[];
    expect(machines.map((m) => [m.machineId, m.state, m.jobId])).toEqual(
      ['db1', 'db2', 'app1', 'app2', 'app3', 'lb'].map((m) => [m, 'succeeded', `job-${m}`]),
    );
    expect(machines[0]).toMatchObject({ pointId: 'p1', vm: { publicIp: '127.1.0.4' } });
    expect(last(calls)).toMatchObject({ state: 'succeeded', allowedActions: [] });
    // The webhook got the plan context by name only; the URL's key is nowhere in the history.
    expect(calls.find((c) => c.name === 'Plan_Webhook')!.input).toMatchObject({
      planName: 'erp',
      action: 'notify',
      context: { plan: 'erp', failoverType: 'Unplanned', group: { id: 1 } },
    });
    expect(JSON.stringify(r.history)).not.toContain('SECRET');
    // The wait action is a durable timer of its length.
    expect(
      r.history.some(
        (e) =>
          e.EventType === 10 &&
          Date.parse(String(e.FireAt)) - Date.parse(String(e.Timestamp)) === 30_000,
      ),
    ).toBe(true);
  });

  it('bounded fan-out: never more than maxParallel machines in flight', async () => {
    const input = planInput({
      maxParallel: 2,
      groups: [{ id: 1, machines: ['a', 'b', 'c', 'd', 'e'] }],
    });
    // Machines end one at a time while others run: each is scheduled exactly once (the driver
    // fails on a second start of the same sub-orchestration).
    const { maxInFlight, calls, subs } = await drive(
      planOperationOrchestrator,
      PLAN_OPERATION,
      input,
      {
        subsOneAtATime: true,
      },
    );
    expect(maxInFlight).toBe(2);
    expect(subs.map((x) => x.instanceId)).toEqual(['a', 'b', 'c', 'd', 'e'].map((m) => `job-${m}`));
    expect(calls.filter((c) => c.name === 'Plan_StartMachine')).toHaveLength(5);
    expect(last(calls)).toMatchObject({ state: 'succeeded' });
  });

  it('a machine failing does not strand the others: partially-succeeded, restart allowed', async () => {
    const input = planInput(threeGroups);
    const { calls } = await drive(planOperationOrchestrator, PLAN_OPERATION, input, {
      idle: resumer(),
      sub: (s) =>
        s.instanceId === 'job-app2'
          ? { error: 'OperationFailed: VMPlatformUnavailable' }
          : { result: {} },
      activity: (c) =>
        c.name === 'Plan_StartMachine' && c.input.machineId === 'db2'
          ? { refused: "Machine 'db2' is not protected." }
          : defaultActivity(c),
    });
    const machines = lastResult(calls, 'machines') as MachineOutcome[];
    expect(Object.fromEntries(machines.map((m) => [m.machineId, m.state]))).toEqual({
      db1: 'succeeded',
      db2: 'failed',
      app1: 'succeeded',
      app2: 'failed',
      app3: 'succeeded',
      lb: 'succeeded',
    });
    expect(machines.find((m) => m.machineId === 'app2')!.error).toContain('VMPlatformUnavailable');
    expect(machines.find((m) => m.machineId === 'db2')!.error).toContain('not protected');
    expect(last(calls)).toMatchObject({
      state: 'partially-succeeded',
      allowedActions: ['restart'],
      result: { summary: { succeeded: 4, failed: 2 } },
    });
  });

  it('a failed pre-action stops the plan: later machines skipped, job failed', async () => {
    const input = planInput(threeGroups);
    const { calls, r } = await drive(planOperationOrchestrator, PLAN_OPERATION, input, {
      activity: (c) =>
        c.name === 'Plan_Webhook'
          ? { ok: false, target: 'hooks.example/run', status: 503, retryable: true }
          : defaultActivity(c),
    });
    expect(calls.filter((c) => c.name === 'Plan_Webhook').map((c) => c.input.attempt)).toEqual([
      1, 2, 3, 4,
    ]);
    expect(calls.some((c) => c.name === 'Plan_StartMachine')).toBe(false);
    expect(last(calls)).toMatchObject({
      state: 'failed',
      error: { kind: 'plan-stopped', message: expect.stringContaining('503') },
    });
    expect(
      (lastResult(calls, 'machines') as MachineOutcome[]).every((m) => m.state === 'skipped'),
    ).toBe(true);
    expect(r.outcome.kind).toBe('completed');
  });

  it('a manual action nobody answers: its timeout fails the plan (a stale resume answers nothing)', async () => {
    const input = planInput(threeGroups);
    let stale = false;
    const { calls } = await drive(planOperationOrchestrator, PLAN_OPERATION, input, {
      idle: (r, c) => {
        if (!waitingStep(c) || stale) return undefined;
        stale = true;
        return [
          r.raise('JobControl', {
            action: 'resume',
            step: 'group 9 pre other',
            by: 'admin',
            at: '2026-01-01T00:00:00Z',
          }),
        ];
      },
    });
    expect(last(calls)).toMatchObject({
      state: 'partially-succeeded',
      error: { message: expect.stringContaining('nobody resumed within 600 s') },
    });
    const machines = lastResult(calls, 'machines') as MachineOutcome[];
    expect(machines.find((m) => m.machineId === 'lb')!.state).toBe('skipped');
  });

  it('cancel while machines run: nothing new starts, running ones finish, the job is cancelled', async () => {
    const input = planInput({
      maxParallel: 1,
      groups: [
        { id: 1, machines: ['a', 'b', 'c'] },
        { id: 2, machines: ['d'] },
      ],
    });
    let sent = false;
    const { calls, subs, r } = await drive(planOperationOrchestrator, PLAN_OPERATION, input, {
      // Raised as machine a's job is created (with that answer): a runs to its end, nothing else starts.
      along: (rp, c) => {
        if (sent || !c.some((x) => x.name === 'Plan_StartMachine')) return [];
        sent = true;
        return [
          rp.raise('JobControl', { action: 'cancel', by: 'admin', at: '2026-01-01T00:00:01Z' }),
        ];
      },
    });
    expect(r.outcome.kind).toBe('completed');
    expect(subs.map((x) => x.instanceId)).toEqual(['job-a']);
    const machines = lastResult(calls, 'machines') as MachineOutcome[];
    expect(machines.map((m) => [m.machineId, m.state])).toEqual([
      ['a', 'succeeded'],
      ['b', 'skipped'],
      ['c', 'skipped'],
      ['d', 'skipped'],
    ]);
    expect(last(calls)).toMatchObject({ state: 'cancelled', allowedActions: ['restart'] });
    expect(names(calls).at(-2)).toBe('Plan_Release');
  });
});
