import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import { RecoveryActivity as A } from './activities/recoveryActivities';
import { bringUp, pointStep } from './bringUp';
import { RecoverySaga } from './recoverySaga';
import type { RecoveryResult } from './testFailover';

/**
 * Failover (issue 12 §4): the control plane already moved the item `protected → failing-over`
 * (so it never starts twice). The point is chosen (for `latest`, what ingest accepted is
 * processed first), the disks and the VM come up in the failover network, the probe passes,
 * and the item becomes `failed-over`: the point may then be changed, committed or cancelled.
 * Replication keeps running until commit. A failure compensates everything and returns the
 * item to `protected`.
 *
 * Planned: the point is the newest one after the source's final bookmark has been processed
 * (`latest`); see docs/recovery.md for what the agent does.
 */
export const FAILOVER = 'failover';

export const failoverOrchestrator: OrchestrationHandler = function* (ctx: OrchestrationContext) {
  const input = ctx.df.getInput() as RecoveryJobInput;
  const s = new RecoverySaga(ctx);
  const { machineId } = input;
  try {
    yield s.job({ state: 'running', percent: 0, stepName: 'starting', allowedActions: [] });
    yield* s.loadFacts();
    const point = yield* pointStep(s, input, input.planned ? 'latest' : (input.choice ?? 'latest'));
    const vm = yield* bringUp(s, input, point, false);
    yield* s.step(Step.record, function* () {
      yield s.call(A.record, { machineId, change: { kind: 'failover-ready', jobId: s.jobId, vm } });
      yield s.call(A.setState, {
        machineId,
        jobId: s.jobId,
        to: 'failed-over',
        from: ['failing-over'],
        reason: input.planned ? 'planned failover' : 'failover',
      });
    });
    const result: RecoveryResult = { vm, timings: s.timings };
    yield s.job({
      state: 'succeeded',
      percent: 100,
      stepName: 'failed-over',
      result: { ...result, pointId: vm.pointId },
      allowedActions: ['change-point', 'commit', 'cancel'],
    });
    return result;
  } catch (e) {
    const failures = yield* s.compensate();
    yield s.call(A.record, { machineId, change: { kind: 'failover-clear', jobId: s.jobId } });
    yield s.call(A.setState, {
      machineId,
      jobId: s.jobId,
      to: 'protected',
      from: ['failing-over'],
      reason: 'failover compensated',
    });
    yield s.fail(e, failures);
    throw e;
  }
};
