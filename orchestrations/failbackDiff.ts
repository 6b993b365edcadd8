import type { RecoveryJobInput } from '../core/recovery/operations';
import { armId, jobShort, parseArmId } from '../core/recovery/resourceNames';
import {
  FailbackActivity as F,
  type BegunSession,
  type ShipResult,
} from './activities/failbackActivities';
import { tagsOf } from './networkStep';
import type { Gen, RecoverySaga } from './recoverySaga';

/**
 * What reprotect and failback share (not a saga itself): an incremental snapshot of each
 * Azure disk, then its diff since the last shipment sealed as reverse batches.
 */
export function* snapshotAndShip(
  s: RecoverySaga,
  input: RecoveryJobInput,
  session: BegunSession,
  step: string,
  final: boolean,
): Gen<(ShipResult & { diskId: string; snapshotId: string })[]> {
  const one = function* (
    d: BegunSession['disks'][number],
    i: number,
  ): Gen<ShipResult & { diskId: string; snapshotId: string }> {
    const { resourceGroup } = parseArmId(d.azureDiskId);
    const name = `haven-${jobShort(s.jobId)}-fb${session.session}-${step}-${i}`.slice(0, 80);
    const snapshotId = armId(
      s.facts.subscriptionPath,
      resourceGroup,
      'Microsoft.Compute/snapshots',
      name,
    );
    // Kept on success: it is the base of the next diff (commit of failback removes them).
    yield* s.put(
      {
        type: 'Microsoft.Compute/snapshots',
        resourceGroup,
        name,
        location: input.settings.location,
        tags: tagsOf(s, input, { 'haven-disk': d.diskId, 'haven-failback': input.machineId }),
        sourceResourceId: d.azureDiskId,
        incremental: true,
      },
      snapshotId,
      final,
    );
    const r = (yield s.call(F.ship, {
      machineId: input.machineId,
      key: `${s.jobId}/${step}/${d.diskId}`,
      diskId: d.diskId,
      snapshotId,
      final,
    })) as ShipResult;
    return { ...r, diskId: d.diskId, snapshotId };
  };
  return yield* s.all(session.disks.map((d, i) => one(d, i)));
}
