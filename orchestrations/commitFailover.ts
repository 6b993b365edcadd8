import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import { RecoveryActivity as A } from './activities/recoveryActivities';
import { RecoverySaga } from './recoverySaga';

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
  const input = ctx.df.getInput() as RecoveryJobInput;
  const s = new RecoverySaga(ctx);
  const { machineId } = input;
  try {
    yield s.job({ state: 'running', percent: 0, stepName: 'starting', allowedActions: [] });
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
    yield s.job({
      state: 'succeeded',
      percent: 100,
      stepName: 'committed',
      result,
      allowedActions: [],
    });
    return result;
  } catch (e) {
    yield s.call(A.record, { machineId, change: { kind: 'release', jobId: s.jobId } });
    yield s.fail(e, []);
    throw e;
  }
};
