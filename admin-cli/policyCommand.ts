import { ApiError, type AdminClient, type ApiReply } from './client';
import { formatDuration, parseDuration } from './duration';
import { table } from './table';
import { UsageError } from './usageError';

type Row = Record<string, unknown>;
type Print = (json: unknown, human: () => string) => void;

/** The flags `haven policy set` reads. */
export interface PolicyFlags {
  'crash-interval'?: string;
  'app-interval'?: string;
  retention?: string;
  thinning?: string;
  'rpo-alert'?: string;
  'hydration-lag-alert'?: string;
  description?: string;
}

export const policyOptions = {
  'crash-interval': { type: 'string' },
  'app-interval': { type: 'string' },
  retention: { type: 'string' },
  thinning: { type: 'string' },
  'rpo-alert': { type: 'string' },
  'hydration-lag-alert': { type: 'string' },
} as const;

export const POLICY_USAGE = `  policy set NAME [--crash-interval 5s] [--app-interval 1h] [--retention 24h]
                  [--thinning hourly:24h,daily:7d] [--rpo-alert 60s]
                  [--hydration-lag-alert 15m] [--description TEXT]
  policies`;

function parseThinning(text: string): { keep: string; forHours: number }[] {
  return text.split(',').map((rule) => {
    const [keep, dur] = rule.split(':');
    if (!keep || !dur || !['hourly', 'daily', 'weekly'].includes(keep)) {
      throw new UsageError(`Invalid thinning rule '${rule}' (use e.g. hourly:24h,daily:7d).`);
    }
    return { keep, forHours: Math.ceil(parseDuration(dur) / 3600) };
  });
}

/** `haven policies`: the policies with their durations as people write them. */
export async function listPolicies(client: AdminClient, print: Print): Promise<void> {
  const ps = await client.all<Row>('policies');
  const rows = ps.map((p) => ({
    ...p,
    crash: formatDuration(p.crashIntervalSeconds as number),
    app: p.appIntervalSeconds ? formatDuration(p.appIntervalSeconds as number) : 'off',
    retention: formatDuration((p.retentionHours as number) * 3600),
    thinning: (p.thinning as { keep: string; forHours: number }[]).map(
      (t) => `${t.keep}:${formatDuration(t.forHours * 3600)}`,
    ),
    rpoAlert: formatDuration(p.rpoAlertSeconds as number),
    // Policies stored before the field existed take the control plane's default.
    hydrationLagAlert: formatDuration((p.hydrationLagAlertSeconds as number | undefined) ?? 900),
  }));
  return print(ps, () =>
    table(rows, ['name', 'crash', 'app', 'retention', 'thinning', 'rpoAlert', 'hydrationLagAlert']),
  );
}

/**
 * `haven policy set NAME`: creates the policy, or merges the given flags into the existing one
 * (conditional on its ETag).
 */
export async function policySet(
  name: string,
  v: PolicyFlags,
  client: AdminClient,
  print: Print,
): Promise<void> {
  const fields: Row = {};
  if (v['crash-interval']) fields.crashIntervalSeconds = parseDuration(v['crash-interval']);
  if (v['app-interval']) fields.appIntervalSeconds = parseDuration(v['app-interval']);
  if (v.retention) fields.retentionHours = Math.ceil(parseDuration(v.retention) / 3600);
  if (v.thinning) fields.thinning = parseThinning(v.thinning);
  if (v['rpo-alert']) fields.rpoAlertSeconds = parseDuration(v['rpo-alert']);
  if (v['hydration-lag-alert'])
    fields.hydrationLagAlertSeconds = parseDuration(v['hydration-lag-alert']);
  if (v.description) fields.description = v.description;
  let existing: ApiReply | undefined;
  try {
    existing = await client.request('GET', `policies/${encodeURIComponent(name)}`);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  let saved;
  if (!existing) {
    saved = (await client.request('POST', 'policies', { name, ...fields })).body as Row;
  } else {
    const { name: _n, id: _i, createdAt: _c, updatedAt: _u, ...current } = existing.body as Row;
    saved = (
      await client.request(
        'PUT',
        `policies/${encodeURIComponent(name)}`,
        { ...current, ...fields },
        existing.etag ? { 'if-match': existing.etag } : {},
      )
    ).body as Row;
  }
  print(saved, () => `${existing ? 'Updated' : 'Created'} policy ${saved.name}.`);
}
