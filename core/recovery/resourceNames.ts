/**
 * Names of what a recovery job creates in Azure, derived from the job id so every activity is
 * idempotent (a retried PUT hits the same resource) and a leak check can find them. Azure's
 * rules: disks, NICs, public IPs and NSGs 1–80 characters, VMs 1–64, letters, digits, '-'.
 */

/** The last 8 characters of the job id: unique enough within one machine's jobs. */
export const jobShort = (jobId: string): string =>
  jobId
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(-8)
    .toLowerCase();

const clean = (s: string) => s.replace(/[^A-Za-z0-9-]/g, '-').toLowerCase();

export interface RecoveryNames {
  vm: string;
  nic: string;
  publicIp: string;
  nsg: string;
  disk(diskId: string, os: boolean): string;
  /** Base blob (container `recovery`): the point's snapshot copied to a plain fixed VHD. */
  baseBlob(diskId: string): string;
}

/** `haven-<jobShort>-<machine>-…`, cut to 64 characters (the VM name limit) at the machine part. */
export function recoveryNames(jobId: string, machineId: string): RecoveryNames {
  const prefix = `haven-${jobShort(jobId)}-${clean(machineId)}`.slice(0, 52);
  return {
    vm: `${prefix}-vm`,
    nic: `${prefix}-nic`,
    publicIp: `${prefix}-pip`,
    nsg: `${prefix}-nsg`,
    disk: (diskId, os) =>
      os ? `${prefix}-osdisk` : `${prefix}-disk-${clean(diskId)}`.slice(0, 80),
    baseBlob: (diskId) => `${machineId}/${jobId}/${diskId}.vhd`,
  };
}

/** Container of base blobs (the copy of a point's snapshot that a managed disk imports). */
export const RECOVERY_CONTAINER = 'recovery';

/** ARM id of a resource in a group of the subscription. */
export function armId(
  subscriptionPath: string,
  resourceGroup: string,
  type: string,
  name: string,
): string {
  return `${subscriptionPath}/resourceGroups/${resourceGroup}/providers/${type}/${name}`;
}

export const subnetIdOf = (vnetId: string, subnet: string): string => `${vnetId}/subnets/${subnet}`;

/** The resource group and name parts of an ARM id. */
export function parseArmId(id: string): { resourceGroup: string; name: string } {
  const m = /\/resourceGroups\/([^/]+)\/providers\/.+\/([^/]+)$/i.exec(id);
  return { resourceGroup: m?.[1] ?? '', name: m?.[2] ?? '' };
}
