import { decide, type Approval, type IgnoreReason, type Verdict } from '../../core/alerts/guards';
import { planFacts } from '../../core/alerts/planFacts';
import type { JobControlEvent } from '../../core/plans/jobControl';
import { PlanOperation } from '../../core/plans/planOperations';
import type { PlanJobInput } from '../../core/plans/planJobInput';
import { isHavenError } from '../../core/errors';
import { planDeps, type PlanDeps } from './planDeps';

/** Activities of the alert decision saga. */
export const AlertActivity = {
  evaluate: 'Alert_Evaluate',
  ask: 'Alert_Ask',
  answer: 'Alert_Answer',
  close: 'Alert_Close',
  act: 'Alert_Act',
} as const;

export interface Evaluation {
  verdict: Verdict;
  /** The decision's version the verdict was made on (a close on an older view is refused). */
  version: number;
  approval?: Approval;
  state: 'open' | 'closed';
}

async function evaluateWith(d: PlanDeps, decisionId: string): Promise<Evaluation> {
  const dec = await d.root.alerts.decisions.get(decisionId);
  const { items, recovery } = {
    items: d.root.controlPlane.protectedItems,
    recovery: d.root.recovery,
  };
  const plan = await planFacts(
    d.root.plans,
    async (machineId) => ({
      state: (await items.find(machineId))?.doc.state,
      test: !!(await recovery.records.get(machineId)).test,
    }),
    dec.rules.plan,
  );
  const verdict = decide({
    trigger: dec.rules,
    openedAt: dec.openedAt,
    signals: dec.signals,
    ...(dec.approval ? { approval: dec.approval } : {}),
    plan,
    now: d.root.clock(),
  });
  return {
    verdict,
    version: dec.version,
    ...(dec.approval ? { approval: dec.approval } : {}),
    state: dec.state,
  };
}

/** The guards over what is known now (core/alerts/guards.ts). */
async function evaluate(i: { decisionId: string }): Promise<Evaluation> {
  return evaluateWith(await planDeps(), i.decisionId);
}

/** Approval mode: the decision job waits for a person (resume = approve, cancel = deny). */
async function ask(i: { decisionId: string; until: string }): Promise<true> {
  const d = await planDeps();
  await d.root.alerts.decisions.mutate(i.decisionId, (dec) =>
    dec.approval ? undefined : { ...dec, approval: { state: 'pending', until: i.until } },
  );
  await d.root.controlPlane.jobs.update(i.decisionId, (cur) => ({
    state: 'waiting-for-manual-action',
    progress: { percent: cur.progress.percent, step: 'approval' },
    allowedActions: ['resume', 'cancel'],
    result: { ...cur.result, approvalUntil: i.until },
  }));
  return true;
}

async function answer(i: { decisionId: string; event: JobControlEvent }): Promise<true> {
  const d = await planDeps();
  const e = i.event;
  await d.root.alerts.decisions.mutate(i.decisionId, (dec) =>
    dec.approval?.state === 'pending'
      ? {
          ...dec,
          approval: {
            state: e.action === 'resume' ? 'approved' : 'denied',
            at: e.at,
            by: e.by,
            ...(e.comment ? { comment: e.comment } : {}),
          },
        }
      : undefined,
  );
  await d.root.controlPlane.jobs.update(i.decisionId, (cur) => ({
    state: 'running',
    progress: { percent: cur.progress.percent, step: 'deciding' },
    allowedActions: ['cancel'],
  }));
  return true;
}

async function close(i: {
  decisionId: string;
  outcome: { kind: 'accepted' | 'ignored'; reason?: IgnoreReason; detail: string };
  version: number;
}): Promise<boolean> {
  return (await planDeps()).root.alerts.decisions.close(i.decisionId, i.outcome, i.version);
}

export type ActResult =
  | { again: true }
  | { notified: true }
  | { refused: string }
  | { jobId: string; input: PlanJobInput };

/**
 * Acts once the guards say so, atomically with respect to alerts: the guards are checked once
 * more, the decision is closed as accepted on the version they saw (a Resolved or a new signal
 * in between means: look again), then the plan operation starts (claimed on the plan with an
 * ETag, idempotent on the decision). A refusal then (the plan became busy) amends the outcome.
 */
async function act(i: { decisionId: string }): Promise<ActResult> {
  const d = await planDeps();
  const decisions = d.root.alerts.decisions;
  const dec = await decisions.get(i.decisionId);
  if (
    dec.state === 'closed' &&
    dec.outcome?.kind === 'accepted' &&
    dec.rules.operation === 'notify'
  )
    return { notified: true };
  if (dec.state === 'open') {
    const ev = await evaluateWith(d, i.decisionId);
    if (ev.verdict.kind !== 'act') return { again: true };
    const ok = await decisions.close(
      i.decisionId,
      { kind: 'accepted', detail: ev.verdict.detail },
      ev.version,
    );
    if (!ok) return { again: true };
  } else if (dec.outcome?.kind !== 'accepted') return { refused: dec.outcome?.detail ?? 'closed' };
  if (dec.rules.operation === 'notify') return { notified: true };
  const op =
    dec.rules.operation === 'failover' ? PlanOperation.failover : PlanOperation.testFailover;
  try {
    const r = await d.root.plans.service.start(
      op,
      dec.rules.plan,
      dec.rules.point ? { point: dec.rules.point } : {},
      {
        idempotencyKey: i.decisionId,
        automated: true,
        startedBy: `alert:${i.decisionId}`,
        parentJobId: i.decisionId,
      },
    );
    await decisions.amend(i.decisionId, { planJobId: r.job.id });
    return { jobId: r.job.id, input: r.input };
  } catch (e) {
    if (!isHavenError(e) || !['conflict', 'not-found', 'validation'].includes(e.kind)) throw e;
    await decisions.amend(i.decisionId, {
      outcome: {
        kind: 'ignored',
        reason: 'operation-refused',
        detail: e.message,
      },
    });
    return { refused: e.message };
  }
}

export const alertActivities: Record<string, (input: never) => Promise<unknown>> = {
  [AlertActivity.evaluate]: evaluate,
  [AlertActivity.ask]: ask,
  [AlertActivity.answer]: answer,
  [AlertActivity.close]: close,
  [AlertActivity.act]: act,
};
