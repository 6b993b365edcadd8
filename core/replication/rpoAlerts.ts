import type { ReplicationDeps } from './ports';
import type { RecoveryPointDoc, ReplicationAlertDoc } from './state';

/** The policy's RPO alert threshold when a machine has none. */
export const DEFAULT_RPO_ALERT_SECONDS = 60;
/** An agent report counts while it is younger than this (heartbeats come every ~30 s). */
const REPORT_FRESH_MS = 120_000;

export interface RpoCheck {
  machineId: string;
  rpoSeconds?: number;
  /** What the agent says it can promise now (its backlog at its send rate), when it reports. */
  promisedRpoSeconds?: number;
  thresholdSeconds: number;
  /** What changed: an alert raised now, an open one resolved now, or nothing. */
  action: 'raised' | 'resolved' | 'none';
}

/**
 * The control plane's RPO alert: RPO = now − the newest durable point's time. Past the
 * policy's `rpoAlertSeconds` an `replication-rpo` alert is raised (once per episode: an open
 * alert is not raised again), and resolved (`resolvedAt`) once a point is recent enough again.
 * Durable points count (RPO stops at durability, not hydration). The agent's own promise
 * (heartbeat: backlog ÷ send rate + bookmark interval) raises it too, before the points age: a
 * backlog that outgrows the policy is an alert while the RPO is still fine. A machine without any
 * point yet is not reported here: its initial sync has its own stall alert.
 */
export async function checkRpo(deps: ReplicationDeps, machineId: string): Promise<RpoCheck> {
  const machine = await deps.machines.getMachine(machineId);
  const thresholdSeconds = machine?.rpoAlertSeconds ?? DEFAULT_RPO_ALERT_SECONDS;
  const result: RpoCheck = { machineId, thresholdSeconds, action: 'none' };
  if (!machine || !machine.disks.some((d) => d.protected)) return result;
  const now = deps.clock();
  const [newest, open, report] = await Promise.all([
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
    deps.machines.agentReport?.(machineId),
  ]);
  const point = newest.items[0]?.doc as RecoveryPointDoc | undefined;
  if (!point) return result;
  const rpoSeconds = Math.max(0, Math.round((now - Date.parse(point.time)) / 1000));
  result.rpoSeconds = rpoSeconds;
  // A report older than a few heartbeats says nothing about now.
  const fresh = report && now - Date.parse(report.at) < REPORT_FRESH_MS ? report : undefined;
  const promised = fresh ? Math.round(fresh.promisedRpoSeconds) : undefined;
  if (promised !== undefined) result.promisedRpoSeconds = promised;
  const over = rpoSeconds > thresholdSeconds || (promised ?? 0) > thresholdSeconds;
  const alert = open.items[0];
  const isOpen = alert !== undefined && !alert.doc.resolvedAt;
  if (over && !isOpen) {
    const why =
      rpoSeconds > thresholdSeconds
        ? `RPO ${rpoSeconds} s exceeds the policy's ${thresholdSeconds} s: the newest durable recovery point is ${point.id} of ${point.time}.`
        : `The agent can promise an RPO of ${promised} s (backlog ${fresh!.backlogBytes} bytes at ${Math.round(fresh!.sendBytesPerSecond)} bytes/s), over the policy's ${thresholdSeconds} s.`;
    const doc: Omit<ReplicationAlertDoc, 'id' | 'at'> = {
      machineId,
      kind: 'replication-rpo',
      severity: 'error',
      message: why,
      details: {
        rpoSeconds,
        thresholdSeconds,
        pointId: point.id,
        pointTime: point.time,
        ...(fresh ? { agent: { ...fresh } } : {}),
      },
    };
    await deps.docs.alerts.create({
      ...doc,
      id: `rpo-${now}`,
      at: new Date(now).toISOString(),
    });
    deps.log?.('rpo alert raised', { machineId, rpoSeconds, promised, thresholdSeconds });
    return { ...result, action: 'raised' };
  }
  if (!over && isOpen) {
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
