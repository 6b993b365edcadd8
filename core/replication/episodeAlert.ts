import type { ReplicationDeps } from './ports';
import type { ReplicationAlertDoc } from './state';

/** What a check did to its alert. */
export type EpisodeAction = 'raised' | 'resolved' | 'none';

/**
 * An alert about a condition that comes and goes (the RPO, the hydration lag): raised once per
 * episode (an open alert of its kind is not raised again, so a timer that checks every 30 s
 * does not repeat it) and resolved (`resolvedAt`) once the condition has passed. `raise` builds
 * the alert only when one is created.
 */
export async function episodeAlert(
  deps: ReplicationDeps,
  machineId: string,
  kind: ReplicationAlertDoc['kind'],
  over: boolean,
  raise: () => Pick<ReplicationAlertDoc, 'severity' | 'message' | 'details'>,
): Promise<EpisodeAction> {
  const open = await deps.docs.alerts.query({
    partitionKey: machineId,
    where: [{ field: 'kind', op: '=', value: kind }],
    orderBy: [{ field: 'at', direction: 'desc' }],
    limit: 1,
  });
  const alert = open.items[0];
  const isOpen = alert !== undefined && !alert.doc.resolvedAt;
  const now = deps.clock();
  const at = new Date(now).toISOString();
  if (over && !isOpen) {
    await deps.docs.alerts.create({ machineId, kind, ...raise(), id: `${kind}-${now}`, at });
    return 'raised';
  }
  if (!over && isOpen) {
    await deps.docs.alerts.replace({ ...alert.doc, resolvedAt: at }, { ifMatch: alert.etag });
    return 'resolved';
  }
  return 'none';
}
