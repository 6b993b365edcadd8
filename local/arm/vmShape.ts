import { badRequest } from './armError';
import { props } from './armJson';

/** What a VM body attaches: its OS disk, data disks by LUN and NICs (the first is primary). */
export interface VmShape {
  osDiskId: string;
  dataDisks: { lun: number; id: string }[];
  nicIds: string[];
}

/** Reads a VM body's disks and NICs with ARM's refusals; data disks sorted by LUN. */
export function parseVmShape(body: Record<string, unknown>): VmShape {
  const p = props(body);
  const storage = (p.storageProfile as Record<string, unknown> | undefined) ?? {};
  const os = (storage.osDisk as Record<string, unknown> | undefined) ?? {};
  if (os.createOption !== 'Attach') {
    throw badRequest(
      'InvalidParameter',
      "osDisk.createOption must be 'Attach' here (VMs boot existing managed disks).",
    );
  }
  const osDiskId = (os.managedDisk as { id?: string } | undefined)?.id;
  const dataDisks = ((storage.dataDisks as Record<string, unknown>[] | undefined) ?? []).map(
    (d) => ({
      lun: Number(d.lun),
      id: String((d.managedDisk as { id?: string } | undefined)?.id),
    }),
  );
  const luns = new Set(dataDisks.map((d) => d.lun));
  if (
    luns.size !== dataDisks.length ||
    [...luns].some((l) => !Number.isInteger(l) || l < 0 || l > 63)
  ) {
    throw badRequest('InvalidParameter', 'Data disk LUNs must be distinct integers from 0 to 63.');
  }
  const nicIds = (
    ((p.networkProfile as Record<string, unknown> | undefined)?.networkInterfaces as
      { id?: string }[] | undefined) ?? []
  ).map((n) => String(n.id));
  if (nicIds.length === 0)
    throw badRequest('InvalidParameter', 'A virtual machine needs at least one network interface.');
  return {
    osDiskId: String(osDiskId),
    dataDisks: dataDisks.sort((a, b) => a.lun - b.lun),
    nicIds,
  };
}
