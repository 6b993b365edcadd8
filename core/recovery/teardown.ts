import type { DeployedVm } from './model';
import type { ResourceId } from './ports';

/**
 * What deleting a recovered VM's resources takes, in waves Azure accepts: the VM first (its
 * disks and NIC are attached until it is gone), then the NIC (it holds the public IP and the
 * NSG), then the rest side by side, the vnet last and only if the job created it.
 */
export function teardownWaves(vm: DeployedVm, extra: ResourceId[] = []): ResourceId[][] {
  const made = new Set([
    vm.vmId,
    vm.nicId,
    ...vm.diskIds,
    ...(vm.publicIpId ? [vm.publicIpId] : []),
  ]);
  const rest = [
    ...(vm.publicIpId ? [vm.publicIpId] : []),
    ...(vm.createdNsg && vm.nsgId ? [vm.nsgId] : []),
    ...vm.diskIds,
    ...extra.filter((id) => !made.has(id) && id !== vm.vnetId),
  ];
  return [[vm.vmId], [vm.nicId], rest, ...(vm.createdVnet ? [[vm.vnetId]] : [])];
}
