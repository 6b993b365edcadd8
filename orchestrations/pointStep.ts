import type { CandidatePoint } from '../core/recovery/pointChoice';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import {
  RecoveryActivity as A,
  type MaterializeRound,
  type ResolvedPoint,
} from './activities/recoveryActivities';
import type { Gen, RecoverySaga } from './recoverySaga';

/**
 * Point wait: the chosen point (for `latest` the newest durable one) is driven to materialized,
 * one round per activity with a durable timer between rounds, bounded by `latestWaitMs`.
 */
export function* pointStep(
  s: RecoverySaga,
  input: RecoveryJobInput,
  choice: string,
): Gen<ResolvedPoint> {
  return yield* s.step(
    Step.point,
    function* () {
      const deadline = s.now().getTime() + s.facts.latestWaitMs;
      const chosen = (yield s.call(A.resolvePoint, {
        machineId: input.machineId,
        choice,
      })) as CandidatePoint;
      for (;;) {
        const m = (yield s.call(A.materialize, {
          machineId: input.machineId,
          pointId: chosen.id,
        })) as MaterializeRound;
        if (m.state === 'materialized') return m.point;
        if (m.state === 'failed')
          throw new Error(
            `Recovery point '${chosen.id}' cannot be materialized: ${m.reason ?? 'unknown'}; choose another.`,
          );
        if (s.now().getTime() >= deadline)
          throw new Error(`Recovery point '${chosen.id}' was not materialized in time.`);
        yield* s.sleep(s.facts.pollMs);
      }
    },
    5,
  );
}
