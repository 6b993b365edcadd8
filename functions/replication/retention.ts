import { app, type InvocationContext, type Timer } from '@azure/functions';
import { getRoot } from '../../app/root';
import { applyRetention } from '../../core/replication/recoveryPoints';

/** Retention + thinning of recovery points, every 15 minutes, machine by machine. */
export async function retentionHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const { deps } = (await getRoot()).replication;
  let dropped = 0;
  for (const machineId of await deps.machines.listMachineIds()) {
    try {
      dropped += (await applyRetention(deps, machineId)).dropped.length;
    } catch (e) {
      // One machine's failure must not starve the others; the next run retries it.
      context.warn(`retention failed for ${machineId}: ${(e as Error).message}`);
    }
  }
  context.log(`retention: dropped ${dropped} recovery points`);
}

app.timer('recoveryPointRetention', { schedule: '0 */15 * * * *', handler: retentionHandler });
