import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import { RecoveryActivity as A } from './activities/recoveryActivities';
import { bringUp } from './bringUp';
import { pointStep } from './pointStep';
import { runRecoverySaga, type Gen, type RecoverySaga } from './recoverySaga';

/**
 * Failover (issue 12 §4): the control plane already moved the item `protected → failing-over`
 * (so it never starts twice). The point is chosen (for `latest`, what ingest accepted is
 * processed first), the disks and the VM come up in the failover network, the probe passes,
 * and the item becomes `failed-over`: the point may then be changed, committed or cancelled.
 * Replication keeps running until commit. A failure compensates everything and returns the
 * item to `protected`.
 *
 * Planned (site still up): the agent is asked for a final bookmark; it stops taking writes and
 * inserts it; once that point is durable the failover uses it, so no acknowledged write is
 * lost. Compensation withdraws the request (the agent lets writes flow again).
 */
export const FAILOVER = 'failover';

/** Asks for the final bookmark and waits until its point is durable; returns its id. */
function* finalBookmark(s: RecoverySaga, machineId: string): Gen<string> {
  const id = `final-${s.jobId}`;
  return yield* s.step(
    Step.finalBookmark,
    function* () {
      yield s.call(A.record, {
        machineId,
        change: { kind: 'final-bookmark', jobId: s.jobId, id, requestedAt: s.now().toISOString() },
      });
      const deadline = s.now().getTime() + s.facts.latestWaitMs;
      for (;;) {
        const st = (yield s.call(A.pointStatus, { machineId, pointId: id })) as string | null;
        if (st === 'published') return id;
        if (s.now().getTime() >= deadline)
          throw new Error(
            `The agent's final bookmark '${id}' did not arrive in time (is the site up?).`,
          );
        yield* s.sleep(s.facts.pollMs);
      }
    },
    3,
  );
}

export const failoverOrchestrator: OrchestrationHandler = function* (ctx: OrchestrationContext) {
  return yield* runRecoverySaga<RecoveryJobInput>(
    ctx,
    function* (s, input) {
      const { machineId } = input;
      if (!input.planned) yield s.skip(Step.finalBookmark, 'unplanned failover');
      const choice = input.planned
        ? yield* finalBookmark(s, machineId)
        : (input.choice ?? 'latest');
      const point = yield* pointStep(s, input, choice);
      const vm = yield* bringUp(s, input, point, false);
      yield* s.step(Step.record, function* () {
        yield s.call(A.record, {
          machineId,
          change: { kind: 'failover-ready', jobId: s.jobId, vm },
        });
        yield s.call(A.setState, {
          machineId,
          jobId: s.jobId,
          to: 'failed-over',
          from: ['failing-over'],
          reason: input.planned ? 'planned failover' : 'failover',
        });
      });
      return {
        result: { vm, pointId: vm.pointId },
        stepName: 'failed-over',
        allowedActions: ['change-point', 'commit', 'cancel'],
      };
    },
    function* (s, { machineId }) {
      yield s.call(A.record, { machineId, change: { kind: 'failover-clear', jobId: s.jobId } });
      yield s.call(A.setState, {
        machineId,
        jobId: s.jobId,
        to: 'protected',
        from: ['failing-over'],
        reason: 'failover compensated',
      });
    },
  );
};
