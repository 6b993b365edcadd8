import { formatDuration, parseDuration } from './duration';
import type { AdminClient } from './client';
import { details, table } from './table';

type Row = Record<string, unknown>;
type Print = (json: unknown, human: () => string) => void;
type Need = (v: string | undefined, what: string) => string;

/** The flags `haven alert-trigger …` reads. */
export interface AlertFlags {
  plan?: string;
  operation?: string;
  rule?: string[];
  target?: string[];
  'min-severity'?: string;
  mode?: string;
  grace?: string;
  quorum?: string;
  'quorum-window'?: string;
  cooldown?: string;
  'approval-timeout'?: string;
  point?: string;
  description?: string;
}

export const alertOptions = {
  plan: { type: 'string' },
  operation: { type: 'string' },
  rule: { type: 'string', multiple: true },
  target: { type: 'string', multiple: true },
  'min-severity': { type: 'string' },
  mode: { type: 'string' },
  grace: { type: 'string' },
  quorum: { type: 'string' },
  'quorum-window': { type: 'string' },
  cooldown: { type: 'string' },
  'approval-timeout': { type: 'string' },
} as const;

export const ALERT_USAGE = `  alert-trigger create NAME --plan PLAN --operation failover|test-failover|notify --rule ALERT_RULE
                  [--rule ...] [--target ID ...] [--min-severity Sev1] [--mode automatic|approval]
                  [--grace S] [--quorum N] [--quorum-window S] [--cooldown S] [--approval-timeout S]
                                      Haven's own site-down signal is the rule haven-site-down,
                                      target /haven/sites/SITE
  alert-trigger list
  alert-trigger show|delete NAME
  alerts                              alerts received and what each decided (newest first)`;

const secs = (v: unknown) => (typeof v === 'number' ? formatDuration(v) : '-');

/** `haven alert-trigger …` and `haven alerts`. */
export async function alertCommand(
  [cmd, sub, arg]: (string | undefined)[],
  v: AlertFlags,
  client: AdminClient,
  print: Print,
  need: Need,
): Promise<void> {
  const enc = encodeURIComponent;
  if (cmd === 'alerts') {
    const as = await client.all<Row>('alerts');
    const rows = as.map((a) => {
      const e = a.essentials as Row;
      return {
        receivedAt: a.receivedAt,
        rule: e.alertRule,
        condition: e.monitorCondition,
        severity: e.severity,
        outcome: a.outcome,
        reason: a.reason,
        job: a.jobId ?? (a.decisionIds as string[])[0],
        source: a.source,
      };
    });
    return print(as, () =>
      table(rows, [
        'receivedAt',
        'rule',
        'condition',
        'severity',
        'outcome',
        'reason',
        'job',
        'source',
      ]),
    );
  }
  switch (sub) {
    case 'create': {
      const body: Row = {
        name: need(arg, 'trigger NAME'),
        plan: need(v.plan, '--plan PLAN'),
        operation: need(v.operation, '--operation failover|test-failover|notify'),
        match: {
          rules: v.rule ?? [],
          ...(v.target?.length ? { targetIds: v.target } : {}),
          ...(v['min-severity'] ? { minSeverity: v['min-severity'] } : {}),
        },
      };
      if (!v.rule?.length && !v.target?.length) need(undefined, '--rule ALERT_RULE');
      if (v.mode) body.mode = v.mode;
      if (v.grace) body.graceSeconds = parseDuration(v.grace);
      if (v.quorum) body.quorum = Number(v.quorum);
      if (v['quorum-window']) body.quorumWindowSeconds = parseDuration(v['quorum-window']);
      if (v.cooldown) body.cooldownSeconds = parseDuration(v.cooldown);
      if (v['approval-timeout']) body.approvalTimeoutSeconds = parseDuration(v['approval-timeout']);
      if (v.point) body.point = v.point;
      if (v.description) body.description = v.description;
      const t = (await client.request('POST', 'alert-triggers', body)).body as Row;
      return print(
        t,
        () =>
          `Created alert trigger ${String(t.name)}: ${String(t.operation)} of plan ${String(t.plan)}.`,
      );
    }
    case 'list': {
      const ts = await client.all<Row>('alert-triggers');
      const rows = ts.map((t) => ({
        ...t,
        rules: (t.match as Row).rules,
        grace: secs(t.graceSeconds),
        cooldown: secs(t.cooldownSeconds),
      }));
      return print(ts, () =>
        table(rows, [
          'name',
          'plan',
          'operation',
          'mode',
          'rules',
          'grace',
          'quorum',
          'cooldown',
          'enabled',
        ]),
      );
    }
    case 'show': {
      const t = (await client.request('GET', `alert-triggers/${enc(need(arg, 'NAME'))}`))
        .body as Row;
      return print(t, () => details(t));
    }
    case 'delete': {
      const t = (await client.request('DELETE', `alert-triggers/${enc(need(arg, 'NAME'))}`))
        .body as Row;
      return print(t, () => `Deleted alert trigger ${String(t.name)}.`);
    }
    default:
      throw new Error(`Unknown command 'alert-trigger ${sub ?? ''}'.`);
  }
}
