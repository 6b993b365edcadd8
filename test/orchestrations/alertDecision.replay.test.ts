import { describe, expect, it } from 'vitest';
import { ALERT_DECISION, alertDecisionOrchestrator } from '../../orchestrations/alertDecision';
import { PLAN_DRILL, planDrillOrchestrator } from '../../orchestrations/planDrill';
import type { Verdict } from '../../core/alerts/guards';
import { defaultActivity, drive, planInput, subOk, type Call } from './planReplay';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

/** Evaluations answered from a script (one verdict per call, the last one repeats). */
function decisionWorld(
  verdicts: Verdict[],
  act: unknown = {
    jobId: 'job-plan-1',
    input: planInput({ groups: [{ id: 1, machines: ['a'] }] }),
  },
) {
  let n = 0;
  return (c: Call, all: Call[]) => {
    if (c.name === 'Alert_Evaluate') {
      const v = verdicts[Math.min(n++, verdicts.length - 1)]!;
      return {
        verdict: v,
        version: n,
        state: 'open',
        ...(all.some((x) => x.name === 'Alert_Ask')
          ? { approval: { state: 'pending', until: at(600) } }
          : {}),
      };
    }
    if (c.name === 'Alert_Act') return act;
    if (c.name === 'Alert_Close') return true;
    return defaultActivity(c);
  };
}
const seq = (calls: Call[]) => calls.map((c) => c.name).filter((n) => n.startsWith('Alert_'));
const end = (calls: Call[]) => calls.filter((c) => c.name === 'Recovery_Job').at(-1)!.input;

describe('alert decision saga, replayed by the real SDK', () => {
  it('waits out the grace period on a durable timer, then acts and runs the plan operation as its child', async () => {
    const { calls, subs, r } = await drive(
      alertDecisionOrchestrator,
      ALERT_DECISION,
      { decisionId: 'dec-1' },
      {
        activity: decisionWorld([
          { kind: 'wait', for: 'grace', until: at(60), detail: 'grace' },
          { kind: 'act', detail: 'guards passed' },
        ]),
        sub: (s) =>
          s.name === 'planOperation' ? { result: { state: 'succeeded', machines: [] } } : subOk(s),
      },
      'dec-1',
    );
    expect(r.outcome.kind).toBe('completed');
    expect(seq(calls)).toEqual(['Alert_Evaluate', 'Alert_Evaluate', 'Alert_Act']);
    expect(r.history.some((e) => e.EventType === 11)).toBe(true); // the grace timer fired
    expect(subs).toEqual([
      expect.objectContaining({ name: 'planOperation', instanceId: 'job-plan-1' }),
    ]);
    expect(end(calls)).toMatchObject({
      state: 'succeeded',
      result: { outcome: 'accepted', planJobId: 'job-plan-1', planState: 'succeeded' },
    });
  });

  it('a signal during the wait is looked at at once (a Resolved: ignored, closed on the version it saw)', async () => {
    let sent = false;
    const { calls, r } = await drive(
      alertDecisionOrchestrator,
      ALERT_DECISION,
      { decisionId: 'dec-2' },
      {
        activity: decisionWorld([
          { kind: 'wait', for: 'grace', until: at(3600), detail: 'grace' },
          { kind: 'ignore', reason: 'resolved-before-start', detail: 'every signal was resolved' },
        ]),
        idle: (rp) => {
          if (sent) return undefined;
          sent = true;
          return [rp.raise('Signal', null)];
        },
      },
      'dec-2',
    );
    expect(r.outcome.kind).toBe('completed');
    expect(r.history.some((e) => e.EventType === 11)).toBe(false); // no timer had to fire
    expect(calls.find((c) => c.name === 'Alert_Close')!.input).toMatchObject({
      outcome: { kind: 'ignored', reason: 'resolved-before-start' },
      version: 2,
    });
    expect(end(calls)).toMatchObject({
      state: 'succeeded',
      result: { outcome: 'ignored', reason: 'resolved-before-start' },
    });
  });

  it('approval: the job waits for a person; resume approves (cancel would deny)', async () => {
    const { calls } = await drive(
      alertDecisionOrchestrator,
      ALERT_DECISION,
      { decisionId: 'dec-3' },
      {
        activity: (() => {
          const w = decisionWorld([{ kind: 'ask-approval', until: at(600), detail: 'waiting' }]);
          return (c: Call, all: Call[]) =>
            c.name === 'Alert_Evaluate' && all.some((x) => x.name === 'Alert_Answer')
              ? { verdict: { kind: 'act', detail: 'approved by admin' }, version: 1, state: 'open' }
              : w(c, all);
        })(),
        sub: () => ({ result: { state: 'succeeded', machines: [] } }),
        idle: (rp, all) =>
          all.some((c) => c.name === 'Alert_Ask') && !all.some((c) => c.name === 'Alert_Answer')
            ? [
                rp.raise('JobControl', {
                  action: 'resume',
                  step: 'approval',
                  by: 'admin',
                  at: at(30),
                }),
              ]
            : undefined,
      },
      'dec-3',
    );
    expect(seq(calls)).toEqual([
      'Alert_Evaluate',
      'Alert_Ask',
      'Alert_Answer',
      'Alert_Evaluate',
      'Alert_Act',
    ]);
    expect(calls.find((c) => c.name === 'Alert_Answer')!.input).toMatchObject({
      event: { action: 'resume', by: 'admin' },
    });
    expect(end(calls)).toMatchObject({ result: { outcome: 'accepted' } });
  });

  it('the guards passed but the plan refused: ignored with the refusal', async () => {
    const { calls } = await drive(
      alertDecisionOrchestrator,
      ALERT_DECISION,
      { decisionId: 'dec-4' },
      {
        activity: decisionWorld([{ kind: 'act', detail: 'ok' }], {
          refused: "Job 'x' is already running on plan 'erp'.",
        }),
      },
      'dec-4',
    );
    expect(end(calls)).toMatchObject({
      result: { outcome: 'ignored', reason: 'operation-refused' },
    });
  });
});

describe('drill saga, replayed by the real SDK', () => {
  it('test failover, health, cleanup, leftovers, report, release; both plan jobs are children holding nothing', async () => {
    const planned = planInput({ groups: [{ id: 1, machines: ['a', 'b'] }] }, 'test-failover');
    const { calls, subs, r } = await drive(
      planDrillOrchestrator,
      PLAN_DRILL,
      { planName: 'erp', point: 'latest-processed', startedBy: 'schedule' },
      {
        activity: (c) =>
          c.name === 'Plan_StartPlan'
            ? { jobId: `job-${String(c.input.operation)}`, input: planned }
            : c.name === 'Plan_Leftovers'
              ? []
              : defaultActivity(c),
        sub: () => ({
          result: {
            state: 'succeeded',
            machines: ['a', 'b'].map((m) => ({
              machineId: m,
              group: 1,
              state: 'succeeded',
              jobId: `job-${m}`,
              startedAt: '2026-01-01T00:00:01Z',
              pointTime: '2025-12-31T23:59:58Z',
              vm: { id: `vm-${m}`, readyAt: '2026-01-01T00:00:09Z' },
            })),
          },
        }),
      },
      'job-drill',
    );
    expect(r.outcome.kind).toBe('completed');
    const starts = calls.filter((c) => c.name === 'Plan_StartPlan').map((c) => c.input);
    expect(starts).toEqual([
      expect.objectContaining({
        operation: 'test-failover',
        body: { point: 'latest-processed' },
        opts: expect.objectContaining({ heldBy: 'job-drill', unattended: true }),
      }),
      expect.objectContaining({
        operation: 'test-failover-cleanup',
        opts: expect.objectContaining({ heldBy: 'job-drill' }),
      }),
    ]);
    expect(subs.map((s) => s.instanceId)).toEqual([
      'job-test-failover',
      'job-test-failover-cleanup',
    ]);
    expect(calls.filter((c) => c.name === 'Plan_Probe').map((c) => c.input)).toEqual([
      { machineId: 'a', test: true },
      { machineId: 'b', test: true },
    ]);
    const saved = calls.filter((c) => c.name === 'Plan_SaveDrill').at(-1)!.input.report as Record<
      string,
      unknown
    >;
    expect(saved).toMatchObject({
      state: 'succeeded',
      rtoSeconds: 9,
      rpoSeconds: 2,
      leftovers: [],
      testJobId: 'job-test-failover',
      cleanupJobId: 'job-test-failover-cleanup',
    });
    expect(calls.map((c) => c.name).at(-2)).toBe('Plan_Release');
    expect(end(calls)).toMatchObject({ state: 'succeeded' });
  });
});
