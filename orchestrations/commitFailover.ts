import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import { RecoveryActivity as A } from './activities/recoveryActivities';
import { runRecoverySaga } from './recoverySaga';

/**
 * Commit failover: the machine becomes `committed`. The VM stays as it is; the data path stops
 * cutting points for it (a committed machine's disks no longer count as replicating) and no
 * point can be chosen any more. The other recovery points are not deleted at once: retention
 * drops them as usual (the newest always stays); disabling protection removes them all.
 */
export const COMMIT_FAILOVER = 'commitFailover';

export const commitFailoverOrchestrator: OrchestrationHandler = function* (
  ctx: OrchestrationContext,
) {
  return yield* runRecoverySaga<RecoveryJobInput>(
    ctx,
    function* (s, { machineId }) {
      yield* s.step(Step.commit, function* () {
        yield s.call(A.setState, {
          machineId,
          jobId: s.jobId,
          to: 'committed',
          from: ['failed-over'],
          reason: 'failover committed',
        });
        yield s.call(A.record, {
          machineId,
          change: { kind: 'release', jobId: s.jobId, committedAt: s.now().toISOString() },
        });
      });
      const result = {
        committed: true,
        otherPoints: 'kept until retention drops them; no new points are cut',
      };
      return { result, stepName: 'committed', allowedActions: [] };
    },
    function* (s, { machineId }) {
      yield s.call(A.record, { machineId, change: { kind: 'release', jobId: s.jobId } });
    },
  );
};
