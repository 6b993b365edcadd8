import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import type { RecoveryRecordDoc } from '../core/recovery/model';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import { RecoveryActivity as A } from './activities/recoveryActivities';
import { runRecoverySaga } from './recoverySaga';
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
  return yield* runRecoverySaga<RecoveryJobInput>(
    ctx,
    function* (s, { machineId }) {
      const rec = (yield s.call(A.getRecord, { machineId })) as RecoveryRecordDoc;
      if (rec.test?.cleanupJobId !== s.jobId)
        throw new Error('The test failover is no longer this cleanup’s.');
      yield* teardown(s, rec.test.vm, rec.test.leftovers ?? []);
      yield* s.step(Step.record, function* () {
        yield s.call(A.record, { machineId, change: { kind: 'test-clear', jobId: s.jobId } });
      });
      return {
        result: { testJobId: rec.test.jobId, deleted: true },
        stepName: 'cleaned',
        allowedActions: [],
      };
    },
    function* (s, { machineId }) {
      yield s.call(A.record, {
        machineId,
        change: { kind: 'test-cleanup-failed', jobId: s.jobId },
      });
    },
  );
};
