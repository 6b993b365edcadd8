import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import type { DeployedVm, RecoveryRecordDoc } from '../core/recovery/model';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import type { ResourceView } from '../core/recovery/ports';
import { parseArmId } from '../core/recovery/resourceNames';
import { ArmActivity } from './activities/armActivities';
import { RecoveryActivity as A } from './activities/recoveryActivities';
import { bootAndProbe, diskStep, vmStep } from './bringUp';
import { pointStep } from './pointStep';
import { runRecoverySaga, type RecoverySaga } from './recoverySaga';

/**
 * Change recovery point (after failover, before commit): disks of the other point are imported
 * (names from this job), the VM is deleted and created again with the same name on the same
 * NIC (same private and public IP) with the new disks, it boots and the probe passes; only
 * then are the old disks deleted. Until that moment everything is undoable: a failure deletes
 * the new disks and, if the VM was already replaced, brings it back on the old disks. Either
 * way the machine ends `failed-over` again.
 */
export const CHANGE_RECOVERY_POINT = 'changeRecoveryPoint';

export const changeRecoveryPointOrchestrator: OrchestrationHandler = function* (
  ctx: OrchestrationContext,
) {
  const back = (s: RecoverySaga, machineId: string, reason: string) =>
    s.call(A.setState, {
      machineId,
      jobId: s.jobId,
      to: 'failed-over',
      from: ['failing-over'],
      reason,
    });
  return yield* runRecoverySaga<RecoveryJobInput>(
    ctx,
    function* (s, input) {
      const { machineId } = input;
      const rec = (yield s.call(A.getRecord, { machineId })) as RecoveryRecordDoc;
      const old = rec.failover?.vm;
      if (rec.failover?.busyJobId !== s.jobId || !old)
        throw new Error('The failover is no longer this job’s.');
      const point = yield* pointStep(s, input, input.choice ?? 'latest');
      const diskIds = yield* diskStep(s, input, point);

      const vmName = parseArmId(old.vmId).name;
      const oldVm = (yield s.call(ArmActivity.get, { id: old.vmId })) as ResourceView | null;
      yield* s.step(Step.deleteVm, function* () {
        // Undo: the VM as it was, on its old disks (they are kept until the new VM answers).
        if (oldVm) s.undo.push({ kind: 'put', spec: vmSpecOf(oldVm, old) });
        yield* s.del(old.vmId);
      });
      const vmId = yield* vmStep(s, input, vmName, diskIds, old.nicId);
      const view = yield* bootAndProbe(s, input, vmId);

      // Point of no return: the new VM answers; the old disks go.
      s.undo.length = 0;
      yield* s.step(Step.deleteOldDisks, function* () {
        yield* s.all(old.diskIds.map((id) => s.del(id)));
      });
      const vm: DeployedVm = {
        ...old,
        jobId: s.jobId,
        pointId: point.id,
        pointTime: point.time,
        vmId,
        diskIds,
        ...(view.privateIps[0] ? { privateIp: view.privateIps[0] } : {}),
        ...(view.publicIps[0] ? { publicIp: view.publicIps[0] } : {}),
        readyAt: s.now().toISOString(),
      };
      yield* s.step(Step.record, function* () {
        yield s.call(A.record, { machineId, change: { kind: 'release', jobId: s.jobId, vm } });
        yield back(s, machineId, 'recovery point changed');
      });
      return {
        result: { vm, pointId: point.id, previousPointId: old.pointId },
        stepName: 'failed-over',
        allowedActions: ['change-point', 'commit', 'cancel'],
      };
    },
    function* (s, { machineId }) {
      yield s.call(A.record, { machineId, change: { kind: 'release', jobId: s.jobId } });
      yield back(s, machineId, 'change of recovery point compensated');
    },
  );
};

/** The VM's spec from what the target shows of it (to bring it back on compensation). */
function vmSpecOf(v: ResourceView, d: DeployedVm) {
  const p = v.properties;
  return {
    type: 'Microsoft.Compute/virtualMachines' as const,
    resourceGroup: v.resourceGroup,
    name: v.name,
    location: v.location,
    tags: v.tags,
    size: String(p.size ?? 'Standard_B2s'),
    osDiskId: d.diskIds[0]!,
    osType: 'Linux' as const,
    dataDisks: d.diskIds.slice(1).map((diskId, lun) => ({ lun, diskId })),
    networkInterfaceIds: [d.nicId],
    bootDiagnostics: true,
  };
}
