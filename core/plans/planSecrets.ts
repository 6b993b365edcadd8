import type { PlanAction, PlanGroup, WebhookAction } from './planSchema';

/**
 * Webhook actions carry secrets: a key in the URL's query (an Azure Function's `code`, an
 * Automation webhook's `token`) and header values. Plans are stored with them; every view
 * (API answers, job results, logs) shows them redacted. A PUT that sends a redacted value back
 * keeps the stored one, so read-modify-write with the API's own answer loses nothing.
 */
export const REDACTED = '***';

/** The URL with every query value replaced by `***` (the host and path stay readable). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username) u.username = REDACTED;
    if (u.password) u.password = REDACTED;
    for (const k of new Set(u.searchParams.keys())) u.searchParams.set(k, REDACTED);
    u.hash = '';
    return u.toString();
  } catch {
    return REDACTED;
  }
}

/** Host and path only: what a job step or a log line may say about a webhook. */
export function webhookTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

const redactAction = (a: PlanAction): PlanAction =>
  a.kind !== 'webhook'
    ? a
    : {
        ...a,
        url: redactUrl(a.url),
        headers: Object.fromEntries(Object.keys(a.headers).map((k) => [k, REDACTED])),
      };

export function redactGroups<G extends Pick<PlanGroup, 'pre' | 'post'>>(groups: readonly G[]): G[] {
  return groups.map((g) => ({
    ...g,
    pre: g.pre.map(redactAction),
    post: g.post.map(redactAction),
  }));
}

/** `incoming`'s URL with each `***` query value (and user info) taken from `stored`. */
function mergeUrl(incoming: string, stored: string): string {
  if (!incoming.includes(REDACTED)) return incoming;
  try {
    const inc = new URL(incoming);
    const old = new URL(stored);
    if (inc.origin !== old.origin || inc.pathname !== old.pathname) return incoming;
    if (inc.username === REDACTED) inc.username = old.username;
    if (inc.password === REDACTED) inc.password = old.password;
    for (const [k, v] of [...inc.searchParams.entries()])
      if (v === REDACTED && old.searchParams.has(k))
        inc.searchParams.set(k, old.searchParams.get(k)!);
    return inc.toString();
  } catch {
    return incoming;
  }
}

function mergeAction(incoming: PlanAction, stored: PlanAction | undefined): PlanAction {
  if (incoming.kind !== 'webhook' || stored?.kind !== 'webhook') return incoming;
  const old: WebhookAction = stored;
  return {
    ...incoming,
    url: mergeUrl(incoming.url, old.url),
    headers: Object.fromEntries(
      Object.entries(incoming.headers).map(([k, v]) => [
        k,
        v === REDACTED && old.headers[k] !== undefined ? old.headers[k] : v,
      ]),
    ),
  };
}

/** The incoming groups with redacted secrets restored from the stored webhook of the same name. */
export function mergeSecrets(incoming: PlanGroup[], stored: readonly PlanGroup[]): PlanGroup[] {
  const byName = new Map<string, PlanAction>();
  for (const g of stored) for (const a of [...g.pre, ...g.post]) byName.set(a.name, a);
  return incoming.map((g) => ({
    ...g,
    pre: g.pre.map((a) => mergeAction(a, byName.get(a.name))),
    post: g.post.map((a) => mergeAction(a, byName.get(a.name))),
  }));
}
