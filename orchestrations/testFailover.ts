import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import type { DeployedVm } from '../core/recovery/model';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import { RecoveryActivity as A } from './activities/recoveryActivities';
import { bringUp, pointStep } from './bringUp';
import { RecoverySaga } from './recoverySaga';

/**
 * Test failover (issue 12 §4): the chosen point's disks come up as a VM in the isolated test
 * network while replication keeps running; the machine's lifecycle state does not change, its
 * record shows the running test (one at a time) until cleanup. Every step pushes its
 * compensation first; a failure deletes what was made and clears the record (what could not
 * be deleted stays listed on it, for the cleanup).
 */
export const TEST_FAILOVER = 'testFailover';

export interface RecoveryResult {
  vm: DeployedVm;
  timings: Record<string, number>;
}

export const testFailoverOrchestrator: OrchestrationHandler = function* (
  ctx: OrchestrationContext,
) {
  const input = ctx.df.getInput() as RecoveryJobInput;
  const s = new RecoverySaga(ctx);
  const { machineId } = input;
  try {
    yield s.job({ state: 'running', percent: 0, stepName: 'starting', allowedActions: [] });
    yield* s.loadFacts();
    const point = yield* pointStep(s, input, input.choice ?? 'latest');
    const vm = yield* bringUp(s, input, point, true);
    yield* s.step(Step.record, function* () {
      yield s.call(A.record, { machineId, change: { kind: 'test-ready', jobId: s.jobId, vm } });
    });
    const result: RecoveryResult = { vm, timings: s.timings };
    yield s.job({
      state: 'succeeded',
      percent: 100,
      stepName: 'ready',
      result: { ...result, pointId: vm.pointId },
      allowedActions: ['cleanup'],
    });
    return result;
  } catch (e) {
    const failures = yield* s.compensate();
    const change = failures.length
      ? { kind: 'test-failed', jobId: s.jobId, leftovers: failures.map((f) => f.split(': ')[0]!) }
      : { kind: 'test-clear', jobId: s.jobId };
    yield s.call(A.record, { machineId, change });
    yield s.fail(e, failures);
    throw e;
  }
};
