import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';
import { DECISION_SIGNAL_EVENT, type DecisionInput } from '../core/alerts/alertIngest';
import { ALERT_DECISION_ORCHESTRATION } from '../core/plans/planOperations';
import { AlertActivity, type ActResult, type Evaluation } from './activities/alertActivities';
import { PLAN_OPERATION, type PlanOperationResult } from './planOperation';
import { PlanSaga } from './planSaga';
import { firstLine } from './sagaErrors';

/**
 * An alert trigger's decision (issue 13 §2): the guards (core/alerts/guards.ts) are evaluated
 * now and again whenever something changes: a signal joins or resolves (the `Signal` event),
 * a grace period or quorum window ends (durable timers), a person answers an approval
 * (JobControl: resume approves, cancel denies; the approval's timeout decides otherwise).
 * It ends ignored (with the reason, on every alert that joined) or accepted: then it runs the
 * plan operation as its child and ends with it. The decision job is what a person follows.
 */
export const ALERT_DECISION = ALERT_DECISION_ORCHESTRATION;

export const alertDecisionOrchestrator: OrchestrationHandler = function* (
  ctx: OrchestrationContext,
) {
  const { decisionId } = ctx.df.getInput() as DecisionInput;
  const s = new PlanSaga(ctx);
  let signal: Task = ctx.df.waitForExternalEvent(DECISION_SIGNAL_EVENT);
  const end = (outcome: Record<string, unknown>, message?: string) =>
    s.job({
      state: 'succeeded',
      percent: 100,
      stepName: String(outcome.outcome),
      result: outcome,
      allowedActions: [],
      ...(message ? { error: { kind: 'decision', message } } : {}),
    });
  yield s.job({ state: 'running', percent: 0, stepName: 'deciding', allowedActions: ['cancel'] });
  for (;;) {
    const ev = (yield s.call(AlertActivity.evaluate, { decisionId })) as Evaluation;
    const v = ev.verdict;
    if (s.cancelled && v.kind !== 'ignore') {
      // A person stopped a pending decision (or denied its approval).
      const ok = (yield s.call(AlertActivity.close, {
        decisionId,
        outcome: { kind: 'ignored', reason: 'denied', detail: 'cancelled by admin' },
        version: ev.version,
      })) as boolean;
      if (!ok) continue;
      yield end({ outcome: 'ignored', reason: 'denied', detail: 'cancelled by admin' });
      return { outcome: 'ignored', reason: 'denied' };
    }
    if (v.kind === 'ignore') {
      const ok = (yield s.call(AlertActivity.close, {
        decisionId,
        outcome: { kind: 'ignored', reason: v.reason, detail: v.detail },
        version: ev.version,
      })) as boolean;
      if (!ok) continue; // a signal joined or resolved meanwhile: look again
      yield end({ outcome: 'ignored', reason: v.reason, detail: v.detail });
      return { outcome: 'ignored', reason: v.reason };
    }
    if (v.kind === 'act') {
      const a = (yield s.call(AlertActivity.act, { decisionId })) as ActResult;
      if ('again' in a) continue;
      if ('notified' in a) {
        yield end({ outcome: 'accepted', operation: 'notify', detail: v.detail });
        return { outcome: 'accepted' };
      }
      if ('refused' in a) {
        yield end({ outcome: 'ignored', reason: 'operation-refused', detail: a.refused });
        return { outcome: 'ignored', reason: 'operation-refused' };
      }
      yield s.job({
        stepName: 'operation',
        allowedActions: [],
        result: { outcome: 'accepted', detail: v.detail, planJobId: a.jobId },
      });
      let planState: string;
      try {
        const r = (yield ctx.df.callSubOrchestrator(
          PLAN_OPERATION,
          a.input,
          a.jobId,
        )) as PlanOperationResult;
        planState = r.state;
      } catch (e) {
        planState = `failed: ${firstLine(e)}`;
      }
      yield end({ outcome: 'accepted', detail: v.detail, planJobId: a.jobId, planState });
      return { outcome: 'accepted', planJobId: a.jobId, planState };
    }
    // Wait: for the grace period or the quorum window to end, or for an approval.
    if (v.kind === 'ask-approval' && !ev.approval)
      yield s.call(AlertActivity.ask, { decisionId, until: v.until });
    const ms = Math.max(0, Date.parse(v.until) - s.now().getTime());
    const timer = s.timer(ms);
    const r = yield* s.waitAny([timer, signal]);
    if (!timer.isCompleted) timer.cancel();
    if (r.task === signal) signal = ctx.df.waitForExternalEvent(DECISION_SIGNAL_EVENT);
    if (r.event && v.kind === 'ask-approval')
      yield s.call(AlertActivity.answer, { decisionId, event: r.event });
  }
};
