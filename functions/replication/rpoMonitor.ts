import { app, type InvocationContext, type Timer } from '@azure/functions';
import { getRoot } from '../../app/root';
import { checkRpoAll } from '../../core/replication/rpoAlerts';

/** Every 30 s: RPO of each protected machine against its policy's `rpoAlertSeconds`. */
export async function rpoMonitorHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const { deps } = (await getRoot()).replication;
  const { checks, failures } = await checkRpoAll(deps);
  for (const c of checks.filter((x) => x.action !== 'none'))
    context.log(
      `rpo: ${c.machineId} ${c.action} (RPO ${c.rpoSeconds} s, policy ${c.thresholdSeconds} s)`,
    );
  for (const f of failures) context.warn(`rpo: ${f.machineId}: ${f.error.message}`);
}

app.timer('rpoMonitor', { schedule: '*/30 * * * * *', handler: rpoMonitorHandler });
