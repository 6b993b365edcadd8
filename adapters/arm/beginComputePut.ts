import type { DiskSpec, SnapshotSpec, VirtualMachineSpec } from '../../core/recovery/ports';
import type { ArmClients } from './armClients';
import { beginCompute } from './armOperations';

export type ComputeSpec = DiskSpec | SnapshotSpec | VirtualMachineSpec;

/** Starts the compute client's create-or-update of a disk, snapshot or VM spec; its saved state. */
export function beginComputePut(c: ArmClients, spec: ComputeSpec): Promise<string> {
  const tags = spec.tags ?? {};
  if (spec.type === 'Microsoft.Compute/disks') {
    const s = spec.source;
    const creationData =
      s.kind === 'import'
        ? {
            createOption: 'Import' as const,
            sourceUri: s.sourceUri,
            storageAccountId: s.storageAccountId,
          }
        : s.kind === 'copy'
          ? { createOption: 'Copy' as const, sourceResourceId: s.sourceResourceId }
          : { createOption: 'Empty' as const };
    return beginCompute(
      c.compute.disks.createOrUpdate(spec.resourceGroup, spec.name, {
        location: spec.location,
        tags,
        sku: { name: spec.sku ?? 'Standard_LRS' },
        creationData,
        ...(s.kind === 'empty' ? { diskSizeGB: s.sizeGiB } : {}),
        ...(spec.osType ? { osType: spec.osType } : {}),
        ...(spec.hyperVGeneration ? { hyperVGeneration: spec.hyperVGeneration } : {}),
      }),
    );
  }
  if (spec.type === 'Microsoft.Compute/snapshots') {
    return beginCompute(
      c.compute.snapshots.createOrUpdate(spec.resourceGroup, spec.name, {
        location: spec.location,
        tags,
        incremental: spec.incremental,
        creationData: { createOption: 'Copy', sourceResourceId: spec.sourceResourceId },
      }),
    );
  }
  return beginCompute(
    c.compute.virtualMachines.createOrUpdate(spec.resourceGroup, spec.name, {
      location: spec.location,
      tags,
      hardwareProfile: { vmSize: spec.size },
      storageProfile: {
        osDisk: {
          osType: spec.osType,
          createOption: 'Attach',
          managedDisk: { id: spec.osDiskId },
        },
        dataDisks: spec.dataDisks.map((d) => ({
          lun: d.lun,
          createOption: 'Attach',
          managedDisk: { id: d.diskId },
        })),
      },
      networkProfile: {
        networkInterfaces: spec.networkInterfaceIds.map((id, i) => ({
          id,
          primary: i === 0,
        })),
      },
      diagnosticsProfile: { bootDiagnostics: { enabled: spec.bootDiagnostics } },
    }),
  );
}
