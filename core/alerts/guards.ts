import { graceOf, type TriggerBody } from './triggerSchema';

/** One alert that joined a decision (Fired; `resolvedAt` once its Resolved arrived). */
export interface Signal {
  receiptId: string;
  alertId: string;
  rule: string;
  firedAt: string;
  receivedAt: string;
  resolvedAt?: string;
}

export interface Approval {
  state: 'pending' | 'approved' | 'denied';
  /** The answer's deadline (pending) or when it was answered. */
  until?: string;
  at?: string;
  by?: string;
  comment?: string;
}

/** What the decision knows of the plan right now. */
export interface PlanFacts {
  exists: boolean;
  /** An operation running on the plan (manual or automated). */
  active?: { jobId: string; operation: string; automated: boolean };
  /** Some machine of the plan is failing over, failed over or committed. */
  failedOver: boolean;
  /** Some machine of the plan has a test failover. */
  testRunning: boolean;
  /** End of the last automated operation on the plan (the cooldown counts from it). */
  lastAutomatedAt?: string;
}

export type GuardTrigger = Pick<
  TriggerBody,
  | 'operation'
  | 'mode'
  | 'graceSeconds'
  | 'quorum'
  | 'quorumWindowSeconds'
  | 'cooldownSeconds'
  | 'approvalTimeoutSeconds'
  | 'approvalOnTimeout'
>;

export interface DecisionInput {
  trigger: GuardTrigger;
  /** When Haven opened the decision (grace and the quorum window count from here). */
  openedAt: string;
  signals: readonly Signal[];
  approval?: Approval;
  plan: PlanFacts;
  now: number;
}

export type IgnoreReason =
  | 'resolved-before-start'
  | 'plan-missing'
  | 'already-failed-over'
  | 'plan-busy'
  | 'cooldown'
  | 'no-quorum'
  | 'denied'
  | 'approval-timed-out'
  /** The guards passed but the plan refused the operation (it became busy, no fitting point). */
  | 'operation-refused';

export type Verdict =
  | { kind: 'ignore'; reason: IgnoreReason; detail: string }
  | { kind: 'wait'; for: 'quorum' | 'grace'; until: string; detail: string }
  | { kind: 'ask-approval'; until: string; detail: string }
  | { kind: 'act'; detail: string };

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The guards of an alert-driven operation (issue 13 §2), as one pure decision over what is known
 * now; the decision orchestration calls it again whenever something changes (a signal, a
 * timer, an answer) until it acts or ignores. In order:
 * 1. only Fired signals count; once every one is Resolved, nothing starts;
 * 2. a plan already failed over is left alone (a test failover: one at a time);
 * 3. never two operations on one plan at once;
 * 4. a cooldown after an automated operation on the plan;
 * 5. a quorum of independent signals (distinct alert rules, Haven's own site-down signal
 *    among them) within the window after the decision opened;
 * 6. a grace period before acting (the site may come back; default 1 h for a failover);
 * 7. approval mode: a person approves or denies; unanswered, the timeout decides (deny).
 */
export function decide(d: DecisionInput): Verdict {
  const t = d.trigger;
  const active = d.signals.filter((s) => !s.resolvedAt);
  if (!active.length)
    return {
      kind: 'ignore',
      reason: 'resolved-before-start',
      detail: 'every signal was resolved before the operation started',
    };
  if (!d.plan.exists) return { kind: 'ignore', reason: 'plan-missing', detail: 'no such plan' };
  if (t.operation === 'failover' && d.plan.failedOver)
    return {
      kind: 'ignore',
      reason: 'already-failed-over',
      detail: 'the plan is already failed over: left alone',
    };
  if (t.operation === 'test-failover' && d.plan.testRunning)
    return { kind: 'ignore', reason: 'plan-busy', detail: 'a test failover of the plan is there' };
  if (d.plan.active && t.operation !== 'notify')
    return {
      kind: 'ignore',
      reason: 'plan-busy',
      detail: `operation ${d.plan.active.operation} (job ${d.plan.active.jobId}) is running on the plan`,
    };
  if (d.plan.lastAutomatedAt) {
    const until = Date.parse(d.plan.lastAutomatedAt) + t.cooldownSeconds * 1000;
    if (d.now < until)
      return {
        kind: 'ignore',
        reason: 'cooldown',
        detail: `cooldown after the last automated operation until ${iso(until)}`,
      };
  }
  const opened = Date.parse(d.openedAt);
  const rules = new Set(active.map((s) => s.rule.toLowerCase()));
  if (rules.size < t.quorum) {
    const end = opened + t.quorumWindowSeconds * 1000;
    if (d.now >= end)
      return {
        kind: 'ignore',
        reason: 'no-quorum',
        detail: `${rules.size} of ${t.quorum} independent signals within ${t.quorumWindowSeconds} s`,
      };
    return {
      kind: 'wait',
      for: 'quorum',
      until: iso(end),
      detail: `${rules.size} of ${t.quorum} independent signals`,
    };
  }
  const graceEnd = opened + graceOf(t) * 1000;
  if (d.now < graceEnd)
    return { kind: 'wait', for: 'grace', until: iso(graceEnd), detail: 'grace period' };
  if (t.mode === 'approval') {
    const a = d.approval;
    if (a?.state === 'denied')
      return { kind: 'ignore', reason: 'denied', detail: `denied by ${a.by ?? 'someone'}` };
    if (a?.state !== 'approved') {
      const until = a?.until ? Date.parse(a.until) : d.now + t.approvalTimeoutSeconds * 1000;
      if (d.now < until)
        return { kind: 'ask-approval', until: iso(until), detail: 'waiting for approval' };
      if (t.approvalOnTimeout === 'deny')
        return {
          kind: 'ignore',
          reason: 'approval-timed-out',
          detail: `nobody approved within ${t.approvalTimeoutSeconds} s: denied`,
        };
      return { kind: 'act', detail: 'approval timed out: approved by the trigger' };
    }
    return { kind: 'act', detail: `approved by ${a.by ?? 'someone'}` };
  }
  return { kind: 'act', detail: `${rules.size} signal(s), guards passed` };
}
