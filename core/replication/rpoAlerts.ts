import type { KnownMachine, ReplicationDeps } from './ports';
import { episodeAlert, type EpisodeAction } from './episodeAlert';
import type { RecoveryPointDoc } from './state';

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
  action: EpisodeAction;
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
export async function checkRpo(
  deps: ReplicationDeps,
  machineId: string,
  /** The machine as the directory has it, when the caller looked it up already. */
  known?: KnownMachine,
): Promise<RpoCheck> {
  const machine = known ?? (await deps.machines.getMachine(machineId));
  const thresholdSeconds = machine?.rpoAlertSeconds ?? DEFAULT_RPO_ALERT_SECONDS;
  const result: RpoCheck = { machineId, thresholdSeconds, action: 'none' };
  if (!machine || !machine.disks.some((d) => d.protected)) return result;
  const now = deps.clock();
  const [newest, report] = await Promise.all([
    deps.docs.points.query({
      partitionKey: machineId,
      where: [{ field: 'type', op: '=', value: 'point' }],
      orderBy: [{ field: 'time', direction: 'desc' }],
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
  const action = await episodeAlert(deps, machineId, 'replication-rpo', over, () => ({
    severity: 'error',
    message:
      rpoSeconds > thresholdSeconds
        ? `RPO ${rpoSeconds} s exceeds the policy's ${thresholdSeconds} s: the newest durable recovery point is ${point.id} of ${point.time}.`
        : `The agent can promise an RPO of ${promised} s (backlog ${fresh!.backlogBytes} bytes at ${Math.round(fresh!.sendBytesPerSecond)} bytes/s), over the policy's ${thresholdSeconds} s.`,
    details: {
      rpoSeconds,
      thresholdSeconds,
      pointId: point.id,
      pointTime: point.time,
      ...(fresh ? { agent: { ...fresh } } : {}),
    },
  }));
  if (action !== 'none')
    deps.log?.(`rpo alert ${action}`, { machineId, rpoSeconds, promised, thresholdSeconds });
  return { ...result, action };
}
