import { episodeAlert, type EpisodeAction } from './episodeAlert';
import { hydrationLag } from './hydrationLag';
import type { KnownMachine, ReplicationDeps } from './ports';

/** The policy's hydration-lag threshold when a machine has none: a quarter of an hour. */
export const DEFAULT_HYDRATION_LAG_ALERT_SECONDS = 900;

export interface HydrationLagCheck {
  machineId: string;
  lagSeconds: number;
  pendingPoints: number;
  thresholdSeconds: number;
  action: EpisodeAction;
}

/**
 * The control plane's hydration-lag alert: once the oldest durable point not materialized yet
 * (hydrationLag.ts) has waited longer than the policy's `hydrationLagAlertSeconds`, a
 * `replication-hydration-lag` warning is raised (once per episode), resolved once hydration
 * has caught up again. The RPO is not what it is about (durable points count for that, and the
 * RPO alert watches them): a failover or restore to the newest point now waits for its
 * hydration, and a lag that grows means the replica's storage does not keep up with the
 * machine's writes (random writes beyond a standard page blob's request rate, say).
 */
export async function checkHydrationLag(
  deps: ReplicationDeps,
  machineId: string,
  /** The machine as the directory has it, when the caller looked it up already. */
  known?: KnownMachine,
): Promise<HydrationLagCheck> {
  const machine = known ?? (await deps.machines.getMachine(machineId));
  const thresholdSeconds = machine?.hydrationLagAlertSeconds ?? DEFAULT_HYDRATION_LAG_ALERT_SECONDS;
  const none = { machineId, lagSeconds: 0, pendingPoints: 0, thresholdSeconds };
  if (!machine || !machine.disks.some((d) => d.protected)) return { ...none, action: 'none' };
  const lag = await hydrationLag(deps, machineId);
  const result = { ...none, lagSeconds: lag.lagSeconds, pendingPoints: lag.pendingPoints };
  const over = lag.lagSeconds > thresholdSeconds;
  const action = await episodeAlert(deps, machineId, 'replication-hydration-lag', over, () => {
    const p = lag.oldest!;
    return {
      severity: 'warning',
      message:
        `Recovery point ${p.id} of ${p.time} has been durable for ${lag.lagSeconds} s and is not ` +
        `materialized yet (${lag.pendingPoints} points waiting; the policy allows ` +
        `${thresholdSeconds} s): a failover or restore to it waits for its hydration first. ` +
        `Hydration is not keeping up with this machine's writes.`,
      details: { ...result, pointId: p.id, pointTime: p.time },
    };
  });
  if (action !== 'none') deps.log?.(`hydration lag alert ${action}`, { ...result });
  return { ...result, action };
}
