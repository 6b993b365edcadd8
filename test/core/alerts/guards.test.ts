import { describe, expect, it } from 'vitest';
import { decide, type DecisionInput, type Signal } from '../../../core/alerts/guards';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

const sig = (rule: string, o: Partial<Signal> = {}): Signal => ({
  receiptId: `r-${rule}`,
  alertId: `a-${rule}`,
  rule,
  firedAt: at(0),
  receivedAt: at(0),
  ...o,
});

const base: DecisionInput = {
  trigger: {
    operation: 'failover',
    mode: 'automatic',
    graceSeconds: 60,
    quorum: 1,
    quorumWindowSeconds: 300,
    cooldownSeconds: 600,
    approvalTimeoutSeconds: 120,
    approvalOnTimeout: 'deny',
  },
  openedAt: at(0),
  signals: [sig('vpn-down')],
  plan: { exists: true, failedOver: false, testRunning: false },
  now: T0 + 61_000,
};

const run = (
  o: Partial<Omit<DecisionInput, 'trigger'>> & { trigger?: Partial<DecisionInput['trigger']> },
) => decide({ ...base, ...o, trigger: { ...base.trigger, ...o.trigger } });

describe('alert guards (one pure decision)', () => {
  it.each<[string, Parameters<typeof run>[0], string]>([
    ['all guards pass → act', {}, 'act'],
    [
      'only Resolved signals → resolved-before-start',
      { signals: [sig('vpn-down', { resolvedAt: at(30) })] },
      'ignore:resolved-before-start',
    ],
    [
      'one resolved, one still firing → act',
      { signals: [sig('a', { resolvedAt: at(5) }), sig('b')] },
      'act',
    ],
    ['inside the grace period → wait for grace', { now: T0 + 30_000 }, 'wait:grace'],
    ['grace 0 → act at once', { now: T0 + 1000, trigger: { graceSeconds: 0 } }, 'act'],
    [
      'failover default grace is an hour',
      { now: T0 + 3_599_000, trigger: { graceSeconds: undefined } },
      'wait:grace',
    ],
    [
      'test failover default grace is none',
      { now: T0 + 1000, trigger: { operation: 'test-failover', graceSeconds: undefined } },
      'act',
    ],
    [
      'plan already failed over → left alone',
      { plan: { exists: true, failedOver: true, testRunning: false } },
      'ignore:already-failed-over',
    ],
    [
      'plan missing',
      { plan: { exists: false, failedOver: false, testRunning: false } },
      'ignore:plan-missing',
    ],
    [
      'another operation on the plan → busy',
      {
        plan: {
          exists: true,
          failedOver: false,
          testRunning: false,
          active: { jobId: 'j', operation: 'failover', automated: true },
        },
      },
      'ignore:plan-busy',
    ],
    [
      'notify while the plan is busy → act',
      {
        trigger: { operation: 'notify' },
        plan: {
          exists: true,
          failedOver: false,
          testRunning: false,
          active: { jobId: 'j', operation: 'failover', automated: false },
        },
      },
      'act',
    ],
    [
      'test failover while a test runs → busy',
      {
        trigger: { operation: 'test-failover' },
        plan: { exists: true, failedOver: false, testRunning: true },
      },
      'ignore:plan-busy',
    ],
    [
      'inside the cooldown → suppressed',
      { plan: { exists: true, failedOver: false, testRunning: false, lastAutomatedAt: at(-100) } },
      'ignore:cooldown',
    ],
    [
      'after the cooldown → act',
      { plan: { exists: true, failedOver: false, testRunning: false, lastAutomatedAt: at(-600) } },
      'act',
    ],
    ['quorum 2, one rule, window open → wait', { trigger: { quorum: 2 } }, 'wait:quorum'],
    [
      'quorum 2, the same rule twice is one signal',
      { trigger: { quorum: 2 }, signals: [sig('a'), sig('a', { receiptId: 'r2', alertId: 'a2' })] },
      'wait:quorum',
    ],
    [
      'quorum 2, two rules → act',
      { trigger: { quorum: 2 }, signals: [sig('vpn-down'), sig('haven-site-down')] },
      'act',
    ],
    [
      'quorum 2, window over → no quorum',
      { trigger: { quorum: 2 }, now: T0 + 300_000 },
      'ignore:no-quorum',
    ],
    [
      'quorum 2, one of two resolved → wait',
      { trigger: { quorum: 2 }, signals: [sig('a'), sig('b', { resolvedAt: at(10) })] },
      'wait:quorum',
    ],
    ['approval, not asked yet → ask', { trigger: { mode: 'approval' } }, 'ask-approval'],
    [
      'approval pending within its time → ask',
      { trigger: { mode: 'approval' }, approval: { state: 'pending', until: at(200) } },
      'ask-approval',
    ],
    [
      'approval granted → act',
      { trigger: { mode: 'approval' }, approval: { state: 'approved', by: 'admin' } },
      'act',
    ],
    [
      'approval denied → denied',
      { trigger: { mode: 'approval' }, approval: { state: 'denied', by: 'admin' } },
      'ignore:denied',
    ],
    [
      'approval timed out → denied',
      { trigger: { mode: 'approval' }, approval: { state: 'pending', until: at(61) } },
      'ignore:approval-timed-out',
    ],
    [
      'approval timed out, trigger approves on timeout → act',
      {
        trigger: { mode: 'approval', approvalOnTimeout: 'approve' },
        approval: { state: 'pending', until: at(61) },
      },
      'act',
    ],
    [
      'approval asked during grace → still grace first',
      { trigger: { mode: 'approval' }, now: T0 + 10_000 },
      'wait:grace',
    ],
    [
      'resolved while waiting for approval → resolved-before-start',
      {
        trigger: { mode: 'approval' },
        approval: { state: 'pending', until: at(200) },
        signals: [sig('a', { resolvedAt: at(61) })],
      },
      'ignore:resolved-before-start',
    ],
  ])('%s', (_what, input, expected) => {
    const v = run(input);
    const got =
      v.kind === 'ignore' ? `ignore:${v.reason}` : v.kind === 'wait' ? `wait:${v.for}` : v.kind;
    expect(got).toBe(expected);
  });

  it('waits until the end of the grace period or of the quorum window', () => {
    expect(run({ now: T0 + 10_000 })).toMatchObject({ kind: 'wait', until: at(60) });
    expect(run({ trigger: { quorum: 2 } })).toMatchObject({ kind: 'wait', until: at(300) });
    expect(run({ trigger: { mode: 'approval' } })).toMatchObject({
      kind: 'ask-approval',
      until: at(61 + 120),
    });
  });
});
