import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import type { RecoveryRecordDoc } from '../core/recovery/model';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import { RecoveryActivity as A } from './activities/recoveryActivities';
import { runRecoverySaga } from './recoverySaga';
import { teardown } from './teardown';

/**
 * Cancel failover: the recovered VM and what was made for it are deleted and the machine is
 * `protected` again. Replication never stopped (ingest goes on while failed over), so nothing
 * written at the site since is lost and new points keep being cut. A failed cancel leaves the
 * machine `failed-over` (released, so cancel can run again).
 */
export const CANCEL_FAILOVER = 'cancelFailover';

export const cancelFailoverOrchestrator: OrchestrationHandler = function* (
  ctx: OrchestrationContext,
) {
  return yield* runRecoverySaga<RecoveryJobInput>(
    ctx,
    function* (s, { machineId }) {
      const rec = (yield s.call(A.getRecord, { machineId })) as RecoveryRecordDoc;
      if (rec.failover?.busyJobId !== s.jobId)
        throw new Error('The failover is no longer this job’s.');
      yield* teardown(s, rec.failover.vm);
      yield* s.step(Step.record, function* () {
        yield s.call(A.setState, {
          machineId,
          jobId: s.jobId,
          to: 'protected',
          from: ['failed-over'],
          reason: 'failover cancelled',
        });
        yield s.call(A.record, { machineId, change: { kind: 'failover-clear', jobId: s.jobId } });
      });
      return {
        result: { cancelled: rec.failover.jobId },
        stepName: 'protected',
        allowedActions: [],
      };
    },
    function* (s, { machineId }) {
      yield s.call(A.record, { machineId, change: { kind: 'release', jobId: s.jobId } });
    },
  );
};
