import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import { FailbackActivity as F, type BegunSession } from './activities/failbackActivities';
import { RecoveryActivity as A } from './activities/recoveryActivities';
import { snapshotAndShip } from './failbackDiff';
import { runRecoverySaga } from './recoverySaga';

/**
 * Reprotect (committed → reprotecting → reprotected): opens the failback session of the
 * committed failover and ships the first diff, everything the Azure VM wrote since the
 * failover point, as reverse batches the site agent applies onto the original disk. The VM
 * keeps running; failback ships what it writes after this.
 */
export const REPROTECT = 'reprotect';

export const reprotectOrchestrator: OrchestrationHandler = function* (ctx: OrchestrationContext) {
  return yield* runRecoverySaga<RecoveryJobInput>(
    ctx,
    function* (s, input) {
      const { machineId } = input;
      s.undo.push({ kind: 'call', name: F.clear, input: { machineId, jobId: s.jobId } });
      const session = yield* s.step(Step.reverseSession, function* () {
        return (yield s.call(F.begin, {
          machineId,
          jobId: s.jobId,
          at: s.now().toISOString(),
        })) as BegunSession;
      });
      const disks = yield* s.step(
        Step.firstDiff,
        () => snapshotAndShip(s, input, session, 'first', false),
        50,
      );
      yield* s.step(Step.record, function* () {
        yield s.call(A.setState, {
          machineId,
          jobId: s.jobId,
          to: 'reprotected',
          from: ['reprotecting'],
          reason: 'reprotected: the first diff is shipped to the site',
        });
      });
      return {
        result: { session: session.session, disks },
        stepName: 'reprotected',
        allowedActions: ['failback'],
      };
    },
    function* (s, { machineId }) {
      yield s.call(A.setState, {
        machineId,
        jobId: s.jobId,
        to: 'committed',
        from: ['reprotecting'],
        reason: 'reprotect failed',
      });
    },
  );
};
