import { app, type InvocationContext, type Timer } from '@azure/functions';
import { getRoot } from '../../app/root';
import { checkMachines } from '../../core/replication/monitorAlerts';

/**
 * Every 30 s: each protected machine's RPO against its policy's `rpoAlertSeconds`, and its
 * hydration lag (durable → materialized) against `hydrationLagAlertSeconds`.
 */
export async function rpoMonitorHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const { deps } = (await getRoot()).replication;
  const { rpo, hydrationLag, failures } = await checkMachines(deps);
  for (const c of rpo.filter((x) => x.action !== 'none'))
    context.log(
      `rpo: ${c.machineId} ${c.action} (RPO ${c.rpoSeconds} s, policy ${c.thresholdSeconds} s)`,
    );
  for (const c of hydrationLag.filter((x) => x.action !== 'none'))
    context.log(
      `hydration lag: ${c.machineId} ${c.action} (${c.lagSeconds} s, policy ${c.thresholdSeconds} s)`,
    );
  for (const f of failures) context.warn(`monitor: ${f.machineId}: ${f.error.message}`);
}

app.timer('rpoMonitor', { schedule: '*/30 * * * * *', handler: rpoMonitorHandler });
