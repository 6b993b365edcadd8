import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import type { RecoveryRecordDoc } from '../core/recovery/model';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import { RecoveryActivity as A } from './activities/recoveryActivities';
import { RecoverySaga } from './recoverySaga';
import { teardown } from './teardown';

/**
 * Test failover cleanup: deletes everything the test failover made (the VM, NIC, public IP,
 * its NSG, its disks, the test vnet only if that test created it, and whatever a failed test
 * could not delete), then clears the machine's test record. Deleting is idempotent, so a
 * failed cleanup can simply run again; the record then stays and says so.
 */
export const TEST_FAILOVER_CLEANUP = 'testFailoverCleanup';

export const testFailoverCleanupOrchestrator: OrchestrationHandler = function* (
  ctx: OrchestrationContext,
) {
  const input = ctx.df.getInput() as RecoveryJobInput;
  const s = new RecoverySaga(ctx);
  const { machineId } = input;
  try {
    yield s.job({ state: 'running', percent: 0, stepName: 'starting', allowedActions: [] });
    yield* s.loadFacts();
    const rec = (yield s.call(A.getRecord, { machineId })) as RecoveryRecordDoc;
    if (rec.test?.cleanupJobId !== s.jobId)
      throw new Error('The test failover is no longer this cleanup’s.');
    yield* teardown(s, rec.test.vm, rec.test.leftovers ?? []);
    yield* s.step(Step.record, function* () {
      yield s.call(A.record, { machineId, change: { kind: 'test-clear', jobId: s.jobId } });
    });
    const result = { testJobId: rec.test.jobId, deleted: true, timings: s.timings };
    yield s.job({
      state: 'succeeded',
      percent: 100,
      stepName: 'cleaned',
      result,
      allowedActions: [],
    });
    return result;
  } catch (e) {
    yield s.call(A.record, { machineId, change: { kind: 'test-cleanup-failed', jobId: s.jobId } });
    yield s.fail(e, []);
    throw e;
  }
};
