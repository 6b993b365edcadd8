import type { AlertEssentials, Severity } from './commonAlertSchema';
import type { TriggerBody } from './triggerSchema';

const lower = (s: string) => s.toLowerCase();
const severityRank = (s: Severity): number => Number(s.slice(3));

/** An alert target equal to `id` or a resource under it (ARM ids are case-insensitive). */
const targets = (target: string, id: string): boolean => {
  const t = lower(target).replace(/\/+$/, '');
  const i = lower(id).replace(/\/+$/, '');
  return t === i || t.startsWith(`${i}/`);
};

/**
 * Whether an alert matches a trigger: every criterion the trigger gives must hold (rules: the
 * alert's rule is one of them; targets: one of the alert's targets is one of them or under it;
 * minimum severity: as severe or more; signal types; custom properties: each present with
 * that value). A disabled trigger matches nothing.
 */
export function triggerMatches(
  t: Pick<TriggerBody, 'match' | 'enabled'>,
  a: Pick<
    AlertEssentials,
    'alertRule' | 'alertTargetIDs' | 'severity' | 'signalType' | 'customProperties'
  >,
): boolean {
  if (!t.enabled) return false;
  const m = t.match;
  if (m.rules.length && !m.rules.some((r) => lower(r) === lower(a.alertRule))) return false;
  if (m.targetIds.length && !a.alertTargetIDs.some((x) => m.targetIds.some((id) => targets(x, id))))
    return false;
  if (m.minSeverity && severityRank(a.severity) > severityRank(m.minSeverity)) return false;
  if (m.signalTypes?.length && !m.signalTypes.includes(a.signalType)) return false;
  for (const [k, v] of Object.entries(m.customProperties ?? {}))
    if (a.customProperties[k] !== v) return false;
  return true;
}
