import { app, type InvocationContext, type Timer } from '@azure/functions';
import { getRoot } from '../../app/root';
import { expiredTests } from '../../core/recovery/failoverStatus';
import { RecoveryJob } from '../../core/recovery/operations';
import { durableClientInput, launcherFor } from '../controlPlane/durableLauncher';

/**
 * A test failover left running past its TTL (recovery settings) is cleaned up: the timer
 * starts the same cleanup job an operator would (startedBy `timer`). Leftovers are reported
 * on the machine and by `haven failover status` until then.
 */
export async function testFailoverTtlHandler(_t: Timer, context: InvocationContext): Promise<void> {
  const root = await getRoot();
  const due = expiredTests(await root.recovery.records.withTestFailover(), root.clock());
  for (const r of due) {
    try {
      const { job } = await root.recovery.service.start(
        RecoveryJob.testFailoverCleanup,
        r.machineId,
        {},
        {
          startedBy: 'timer',
          launcher: launcherFor(context),
        },
      );
      context.log(`test failover of ${r.machineId} expired: cleanup job ${job.id}`);
    } catch (e) {
      context.warn(`test failover cleanup of ${r.machineId} not started: ${(e as Error).message}`);
    }
  }
}

app.timer('testFailoverTtl', {
  schedule: '0 */5 * * * *',
  extraInputs: [durableClientInput],
  handler: testFailoverTtlHandler,
});
