import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import type { RecoveryRecordDoc } from '../core/recovery/model';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import { teardownWaves } from '../core/recovery/teardown';
import { FailbackEndActivity as E } from './activities/failbackEndActivities';
import { RecoveryActivity as A } from './activities/recoveryActivities';
import { runRecoverySaga } from './recoverySaga';
import { teardown } from './teardown';

/**
 * Commit of a failback (`failed-back`, the site runs the server): what the failover made in
 * Azure goes — the VM, its NIC, public IP, NSG and vnet when Haven made them, the managed
 * disks, the snapshots the diffs took and the reverse batches — except each disk's final
 * snapshot, which equals the site disk at failback and is what re-enable seeds the new
 * replicas from (re-enable deletes it). The job's result lists what was removed and kept.
 * Deleting is idempotent, so a failed commit is released and may simply run again.
 */
export const COMMIT_FAILBACK = 'commitFailback';

export const commitFailbackOrchestrator: OrchestrationHandler = function* (
  ctx: OrchestrationContext,
) {
  return yield* runRecoverySaga<RecoveryJobInput>(
    ctx,
    function* (s, { machineId }) {
      const rec = (yield s.call(A.getRecord, { machineId })) as RecoveryRecordDoc;
      const fb = rec.failback;
      if (fb?.commitJobId !== s.jobId) throw new Error('The failback is no longer this job’s.');
      const vm = rec.failover?.vm;
      yield* teardown(s, vm);
      const seeds = fb.disks.map((d) => d.baseSnapshotId).filter((x): x is string => !!x);
      const older = fb.disks.flatMap((d) =>
        (d.snapshots ?? []).filter((x) => x !== d.baseSnapshotId),
      );
      yield* s.step(Step.deleteSnapshots, function* () {
        yield* s.all(older.map((id) => s.del(id)));
      });
      const batches = yield* s.step(Step.deleteBatches, function* () {
        return (yield s.call(E.deleteBatches, { machineId })) as number;
      });
      const removed = [...(vm ? teardownWaves(vm).flat() : []), ...older];
      yield* s.step(Step.record, function* () {
        yield s.call(E.committed, {
          machineId,
          jobId: s.jobId,
          at: s.now().toISOString(),
          removed,
        });
      });
      return {
        result: { removed, reverseBatchesRemoved: batches, kept: seeds },
        stepName: 'failback-committed',
        allowedActions: ['reenable'],
      };
    },
    function* (s, { machineId }) {
      yield s.call(E.releaseCommit, { machineId, jobId: s.jobId });
    },
  );
};
