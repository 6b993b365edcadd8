import type { ReplicationDeps } from './ports';
import type { RecoveryPointDoc, ReplicationAlertDoc } from './state';

/** The policy's RPO alert threshold when a machine has none. */
export const DEFAULT_RPO_ALERT_SECONDS = 60;

export interface RpoCheck {
  machineId: string;
  rpoSeconds?: number;
  thresholdSeconds: number;
  /** What changed: an alert raised now, an open one resolved now, or nothing. */
  action: 'raised' | 'resolved' | 'none';
}

/**
 * The control plane's RPO alert: RPO = now − the newest durable point's time. Past the
 * policy's `rpoAlertSeconds` an `replication-rpo` alert is raised (once per episode: an open
 * alert is not raised again), and resolved (`resolvedAt`) once a point is recent enough again.
 * Durable points count (RPO stops at durability, not hydration). A machine without any point
 * yet is not reported here: its initial sync has its own stall alert.
 */
export async function checkRpo(deps: ReplicationDeps, machineId: string): Promise<RpoCheck> {
  const machine = await deps.machines.getMachine(machineId);
  const thresholdSeconds = machine?.rpoAlertSeconds ?? DEFAULT_RPO_ALERT_SECONDS;
  const result: RpoCheck = { machineId, thresholdSeconds, action: 'none' };
  if (!machine || !machine.disks.some((d) => d.protected)) return result;
  const now = deps.clock();
  const [newest, open] = await Promise.all([
    deps.docs.points.query({
      partitionKey: machineId,
      where: [{ field: 'type', op: '=', value: 'point' }],
      orderBy: [{ field: 'time', direction: 'desc' }],
      limit: 1,
    }),
    deps.docs.alerts.query({
      partitionKey: machineId,
      where: [{ field: 'kind', op: '=', value: 'replication-rpo' }],
      orderBy: [{ field: 'at', direction: 'desc' }],
      limit: 1,
    }),
  ]);
  const point = newest.items[0]?.doc as RecoveryPointDoc | undefined;
  if (!point) return result;
  const rpoSeconds = Math.max(0, Math.round((now - Date.parse(point.time)) / 1000));
  result.rpoSeconds = rpoSeconds;
  const alert = open.items[0];
  const isOpen = alert !== undefined && !alert.doc.resolvedAt;
  if (rpoSeconds > thresholdSeconds && !isOpen) {
    const doc: Omit<ReplicationAlertDoc, 'id' | 'at'> = {
      machineId,
      kind: 'replication-rpo',
      severity: 'error',
      message: `RPO ${rpoSeconds} s exceeds the policy's ${thresholdSeconds} s: the newest durable recovery point is ${point.id} of ${point.time}.`,
      details: { rpoSeconds, thresholdSeconds, pointId: point.id, pointTime: point.time },
    };
    await deps.docs.alerts.create({
      ...doc,
      id: `rpo-${now}`,
      at: new Date(now).toISOString(),
    });
    deps.log?.('rpo alert raised', { machineId, rpoSeconds, thresholdSeconds });
    return { ...result, action: 'raised' };
  }
  if (rpoSeconds <= thresholdSeconds && isOpen) {
    await deps.docs.alerts.replace(
      { ...alert.doc, resolvedAt: new Date(now).toISOString() },
      { ifMatch: alert.etag },
    );
    deps.log?.('rpo alert resolved', { machineId, rpoSeconds, thresholdSeconds });
    return { ...result, action: 'resolved' };
  }
  return result;
}

/** Every machine with replication documents, one at a time; one failure does not stop the rest. */
export async function checkRpoAll(
  deps: ReplicationDeps,
): Promise<{ checks: RpoCheck[]; failures: { machineId: string; error: Error }[] }> {
  const checks: RpoCheck[] = [];
  const failures: { machineId: string; error: Error }[] = [];
  for (const machineId of await deps.machines.listMachineIds()) {
    try {
      checks.push(await checkRpo(deps, machineId));
    } catch (e) {
      failures.push({ machineId, error: e as Error });
    }
  }
  return { checks, failures };
}
