import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import { RecoveryActivity as A } from './activities/recoveryActivities';
import { bringUp } from './bringUp';
import { pointStep } from './pointStep';
import { runRecoverySaga } from './recoverySaga';

/**
 * Test failover (issue 12 §4): the chosen point's disks come up as a VM in the isolated test
 * network while replication keeps running; the machine's lifecycle state does not change, its
 * record shows the running test (one at a time) until cleanup. Every step pushes its
 * compensation first; a failure deletes what was made and clears the record (what could not
 * be deleted stays listed on it, for the cleanup).
 */
export const TEST_FAILOVER = 'testFailover';

export const testFailoverOrchestrator: OrchestrationHandler = function* (
  ctx: OrchestrationContext,
) {
  return yield* runRecoverySaga<RecoveryJobInput>(
    ctx,
    function* (s, input) {
      const point = yield* pointStep(s, input, input.choice ?? 'latest');
      const vm = yield* bringUp(s, input, point, true);
      yield* s.step(Step.record, function* () {
        yield s.call(A.record, {
          machineId: input.machineId,
          change: { kind: 'test-ready', jobId: s.jobId, vm },
        });
      });
      return {
        result: { vm, pointId: vm.pointId },
        stepName: 'ready',
        allowedActions: ['cleanup'],
      };
    },
    function* (s, input, failures) {
      const change = failures.length
        ? { kind: 'test-failed', jobId: s.jobId, leftovers: failures.map((f) => f.split(': ')[0]!) }
        : { kind: 'test-clear', jobId: s.jobId };
      yield s.call(A.record, { machineId: input.machineId, change });
    },
  );
};
