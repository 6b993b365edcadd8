import { app, type InvocationContext, type Timer } from '@azure/functions';
import { getRoot } from '../../app/root';
import { pruneRejections } from '../../core/replication/incidents';
import { applyRetention } from '../../core/replication/recoveryPoints';

/** Retention + thinning of recovery points and the cap on rejections, every 15 minutes, machine by machine. */
export async function retentionHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const { deps } = (await getRoot()).replication;
  let dropped = 0;
  // `unknown`: rejections of events that named no machine.
  for (const machineId of [...(await deps.machines.listMachineIds()), 'unknown']) {
    try {
      await pruneRejections(deps, machineId);
      if (machineId !== 'unknown')
        dropped += (await applyRetention(deps, machineId)).dropped.length;
    } catch (e) {
      // One machine's failure must not starve the others; the next run retries it.
      context.warn(`retention failed for ${machineId}: ${(e as Error).message}`);
    }
  }
  context.log(`retention: dropped ${dropped} recovery points`);
}

app.timer('recoveryPointRetention', { schedule: '0 */15 * * * *', handler: retentionHandler });
