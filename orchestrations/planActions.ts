import { actionStep, type PlanJobInput } from '../core/plans/planJobInput';
import type { ActionOutcome } from '../core/plans/planOutcome';
import type { PlanAction } from '../core/plans/planSchema';
import type { GroupRun } from '../core/plans/planRun';
import { PlanActivity, type ProbeOutcome, type WebhookOutcome } from './activities/planActivities';
import { addMs } from './orchestrationTime';
import type { Gen, PlanSaga } from './planSaga';

/**
 * Pre- and post-actions of a plan group (issue 13 §1), each a generator the plan saga runs in
 * order. Each returns its outcome; a failed action stops the plan (later groups do not start).
 * Secrets never appear here: the saga's input names webhooks, the activity reads their URLs
 * and headers from the plan, and outcomes say the host and the status only.
 */

const FAILOVER_TYPE = { test: 'Test', planned: 'Planned', unplanned: 'Unplanned' } as const;

/** The JSON a webhook receives (like ASR's runbook context). */
export function webhookContext(
  s: PlanSaga,
  input: PlanJobInput,
  group: GroupRun,
  phase: 'pre' | 'post',
  action: string,
): Record<string, unknown> {
  const type =
    input.operation === 'test-failover' ? 'test' : input.planned ? 'planned' : 'unplanned';
  return {
    plan: input.planName,
    jobId: s.jobId,
    operation: input.operation,
    failoverType: FAILOVER_TYPE[type],
    direction: 'failover',
    group: { id: group.id, machines: group.machines },
    phase,
    action,
    machines: Object.fromEntries(
      [...s.machines.values()].map((m) => [
        m.machineId,
        {
          group: m.group,
          state: m.state,
          ...(m.jobId ? { jobId: m.jobId } : {}),
          ...(m.vm ? { vmId: m.vm.id, privateIp: m.vm.privateIp, publicIp: m.vm.publicIp } : {}),
          ...(m.pointId ? { pointId: m.pointId, pointTime: m.pointTime } : {}),
        },
      ]),
    ),
  };
}

const backoffMs = (attempt: number) => Math.min(60_000, 5000 * 2 ** attempt);

function* webhook(
  s: PlanSaga,
  input: PlanJobInput,
  group: GroupRun,
  phase: 'pre' | 'post',
  a: Extract<PlanAction, { kind: 'webhook' }>,
): Gen<Pick<ActionOutcome, 'state' | 'detail'>> {
  const context = webhookContext(s, input, group, phase, a.name);
  let last = '';
  for (let attempt = 0; attempt <= a.retries; attempt++) {
    const r = (yield s.call(PlanActivity.webhook, {
      planName: input.planName,
      action: a.name,
      context,
      idempotencyKey: `${s.jobId}:${group.id}:${a.name}`,
      attempt: attempt + 1,
    })) as WebhookOutcome;
    if (r.ok) return { state: 'succeeded', detail: `${r.target}: ${r.status}` };
    last = `${r.target}: ${r.status ?? r.error ?? 'failed'}`;
    if (!r.retryable || attempt === a.retries) break;
    if (!(yield* s.sleep(backoffMs(attempt)))) return { state: 'failed', detail: 'cancelled' };
  }
  return { state: 'failed', detail: `${last} (after ${a.retries + 1} attempt(s))` };
}

function* manual(
  s: PlanSaga,
  input: PlanJobInput,
  step: string,
  a: Extract<PlanAction, { kind: 'manual' }>,
): Gen<Pick<ActionOutcome, 'state' | 'detail'>> {
  if (input.unattended) return { state: 'skipped', detail: 'unattended (drill): skipped' };
  yield s.job({
    state: 'waiting-for-manual-action',
    stepName: step,
    steps: [
      {
        name: step,
        state: 'running',
        startedAt: s.iso(),
        ...(a.instructions ? { detail: a.instructions } : {}),
      },
    ],
    allowedActions: ['resume', 'cancel'],
    result: s.progress(),
  });
  const deadline = addMs(s.now(), a.timeoutSeconds * 1000);
  let outcome: Pick<ActionOutcome, 'state' | 'detail'> | undefined;
  while (!outcome) {
    // A fresh timer each round (same deadline): a scheduled one must not go into a new Task.any.
    const timeout = s.ctx.df.createTimer(deadline);
    const r = yield* s.waitAny([timeout]);
    if (!r.task) timeout.cancel();
    if (r.task) {
      const cont = a.onTimeout === 'continue';
      s.manual.push({ step, by: 'timeout', at: s.iso(), outcome: cont ? 'continued' : 'failed' });
      outcome = cont
        ? { state: 'succeeded', detail: `nobody resumed within ${a.timeoutSeconds} s: continued` }
        : { state: 'failed', detail: `nobody resumed within ${a.timeoutSeconds} s` };
    } else if (s.cancelled) {
      s.manual.push({
        step,
        by: r.event!.by,
        at: r.event!.at,
        outcome: 'cancelled',
        ...(r.event!.comment ? { comment: r.event!.comment } : {}),
      });
      outcome = { state: 'failed', detail: `cancelled by ${r.event!.by}` };
    } else if (!r.event!.step || r.event!.step === step) {
      const e = r.event!;
      s.manual.push({
        step,
        by: e.by,
        at: e.at,
        outcome: 'resumed',
        ...(e.comment ? { comment: e.comment } : {}),
      });
      outcome = {
        state: 'succeeded',
        detail: `resumed by ${e.by}${e.comment ? `: ${e.comment}` : ''}`,
      };
    }
    // A resume meant for another (earlier) step is stale: keep waiting.
  }
  yield s.job({ state: 'running', allowedActions: ['cancel'] });
  return outcome;
}

function* health(
  s: PlanSaga,
  input: PlanJobInput,
  group: GroupRun,
  a: Extract<PlanAction, { kind: 'health' }>,
  pollMs: number,
): Gen<Pick<ActionOutcome, 'state' | 'detail'>> {
  const machines = group.machines.filter((m) => s.machines.get(m)?.state === 'succeeded');
  if (!machines.length) return { state: 'skipped', detail: 'no machine of the group is up' };
  const deadline = s.now().getTime() + a.timeoutSeconds * 1000;
  const test = input.operation === 'test-failover';
  let failing: string[] = machines;
  for (;;) {
    const results = (yield s.ctx.df.Task.all(
      failing.map((machineId) => s.call(PlanActivity.probe, { machineId, test })),
    )) as ProbeOutcome[];
    const bad = results.filter((r) => !r.ok);
    if (!bad.length) return { state: 'succeeded', detail: `${machines.length} machine(s) healthy` };
    failing = bad.map((r) => r.machineId);
    if (s.now().getTime() >= deadline)
      return {
        state: 'failed',
        detail: `not healthy within ${a.timeoutSeconds} s: ${bad.map((r) => `${r.machineId} (${r.detail})`).join(', ')}`,
      };
    if (!(yield* s.sleep(pollMs))) return { state: 'failed', detail: 'cancelled' };
  }
}

/** Runs one action, recorded as a job step and in the job's action outcomes. */
export function* runAction(
  s: PlanSaga,
  input: PlanJobInput,
  group: GroupRun,
  phase: 'pre' | 'post',
  a: PlanAction,
  pollMs: number,
): Gen<ActionOutcome> {
  const step = actionStep(group.id, phase, a.name);
  const out: ActionOutcome = {
    group: group.id,
    phase,
    name: a.name,
    kind: a.kind,
    state: 'running',
    startedAt: s.iso(),
  };
  s.actions.push(out);
  yield s.job({
    stepName: step,
    steps: [{ name: step, state: 'running', startedAt: out.startedAt }],
    result: s.progress(),
  });
  const r =
    a.kind === 'webhook'
      ? yield* webhook(s, input, group, phase, a)
      : a.kind === 'manual'
        ? yield* manual(s, input, step, a)
        : a.kind === 'wait'
          ? (yield* s.sleep(a.seconds * 1000))
            ? { state: 'succeeded' as const, detail: `waited ${a.seconds} s` }
            : { state: 'failed' as const, detail: 'cancelled' }
          : yield* health(s, input, group, a, pollMs);
  Object.assign(out, r, { endedAt: s.iso() });
  yield s.job({
    steps: [
      {
        name: step,
        state: r.state === 'running' || r.state === 'waiting' ? 'running' : r.state,
        endedAt: out.endedAt,
        ...(r.detail ? { detail: r.detail } : {}),
      },
    ],
    result: s.progress(),
  });
  return out;
}
