import { app, type InvocationContext, type Timer } from '@azure/functions';
import { getRoot } from '../../app/root';
import { settleGaps } from '../../core/replication/gapWatch';
import { durableClientInput, launcherFor } from './durableLauncher';

/**
 * Every 5 minutes, per machine: a disk generation waiting for batches that are not coming gets
 * back those whose claim-check uploads are left, and stops (`replication-gap`) at the first
 * without one; then each protected disk whose current generation stopped resyncs on its
 * own (backing off, one job per stopped generation, and left to an operator after 5 in a row).
 * One machine's failure does not stop the rest.
 */
export async function autoResyncHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const root = await getRoot();
  const { deps, options } = root.replication;
  const launcher = launcherFor(context);
  for (const machineId of await deps.machines.listMachineIds()) {
    try {
      for (const g of await settleGaps(deps, options, machineId))
        if (g.action === 'recovered')
          context.log(
            `auto-resync: ${machineId}/${g.diskId} g${g.generation}: ${g.seqs.length} lost event(s) ingested again from their uploads (seq ${g.seqs[0]}…${g.seqs.at(-1)})`,
          );
        else
          context.warn(
            `auto-resync: ${machineId}/${g.diskId} g${g.generation} stopped: batch ${g.missingSeq} never arrived (staged up to ${g.stagedUpTo}; ${g.recovered.length} before it ingested again from their uploads)`,
          );
      for (const r of await root.controlPlane.autoResyncs.run(machineId, launcher))
        if (r.action === 'suspended')
          context.warn(
            `auto-resync: ${machineId}/${r.diskId} g${r.generation} suspended: ${r.attempt - 1} automatic resyncs in a row stopped, an operator's resync is needed: ${r.reason}`,
          );
        else
          context.log(
            `auto-resync: ${machineId}/${r.diskId} g${r.generation} ${r.action} (attempt ${r.attempt})${r.jobId ? ` (job ${r.jobId})` : ''}${r.retryAfterSeconds !== undefined ? ` (again in ${r.retryAfterSeconds} s)` : ''}: ${r.reason}`,
          );
    } catch (e) {
      context.warn(`auto-resync: ${machineId}: ${(e as Error).message}`);
    }
  }
}

app.timer('autoResync', {
  schedule: '0 */5 * * * *',
  extraInputs: [durableClientInput],
  handler: autoResyncHandler,
});
