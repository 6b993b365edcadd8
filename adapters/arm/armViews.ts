import type { ResourceType, ResourceView, VmInstanceView } from '../../core/recovery/ports';

/** api-version per type for plain ARM requests (GET of any resource, groups): what the pinned clients use. */
export function apiVersionOf(type: string): string {
  const t = type.toLowerCase();
  if (t === 'microsoft.compute/virtualmachines') return '2026-03-01';
  if (t.startsWith('microsoft.compute/')) return '2025-01-02';
  if (t.startsWith('microsoft.network/')) return '2025-05-01';
  return '2021-04-01';
}

/** The resource type and group of an ARM id. */
export function parseId(id: string): { type: ResourceType; resourceGroup: string; name: string } {
  const group = /\/resourceGroups\/([^/]+)/i.exec(id)?.[1] ?? '';
  const m = /\/providers\/([^/]+)\/([^/]+)\/([^/]+)(?:\/([^/]+)\/([^/]+))?$/i.exec(id);
  if (!m) return { type: 'Microsoft.Resources/resourceGroups', resourceGroup: group, name: group };
  const type = (m[4] ? `${m[1]}/${m[2]}/${m[4]}` : `${m[1]}/${m[2]}`) as ResourceType;
  return { type, resourceGroup: group, name: m[5] ?? m[3]! };
}

type Json = Record<string, unknown>;
const obj = (x: unknown): Json => (x && typeof x === 'object' ? (x as Json) : {});
const idOf = (x: unknown): string | undefined => obj(x).id as string | undefined;

/** The facts sagas read, per type (see `ResourceView` in core/recovery/ports.ts). */
function facts(type: string, body: Json): Json {
  const p = obj(body.properties);
  switch (type.toLowerCase()) {
    case 'microsoft.compute/disks':
      return {
        sizeBytes: p.diskSizeBytes,
        diskState: p.diskState,
        ...(body.managedBy ? { managedBy: body.managedBy } : {}),
      };
    case 'microsoft.compute/snapshots':
      return {
        sizeBytes: p.diskSizeBytes,
        incremental: p.incremental === true,
        sourceResourceId: obj(p.creationData).sourceResourceId,
      };
    case 'microsoft.network/networkinterfaces': {
      const ipc = obj(obj((p.ipConfigurations as unknown[] | undefined)?.[0]).properties);
      return {
        privateIp: ipc.privateIPAddress,
        subnetId: idOf(ipc.subnet),
        ...(idOf(ipc.publicIPAddress) ? { publicIpId: idOf(ipc.publicIPAddress) } : {}),
        ...(idOf(p.virtualMachine) ? { virtualMachineId: idOf(p.virtualMachine) } : {}),
        ...(idOf(p.networkSecurityGroup)
          ? { networkSecurityGroupId: idOf(p.networkSecurityGroup) }
          : {}),
      };
    }
    case 'microsoft.network/publicipaddresses':
      return { ipAddress: p.ipAddress };
    case 'microsoft.network/virtualnetworks/subnets':
      return {
        addressPrefix: p.addressPrefix,
        ipConfigurationIds: ((p.ipConfigurations as unknown[] | undefined) ?? []).map(idOf),
      };
    case 'microsoft.network/virtualnetworks':
      return {
        addressPrefixes: obj(p.addressSpace).addressPrefixes ?? [],
        subnets: ((p.subnets as unknown[] | undefined) ?? []).map((s) => obj(s).name),
      };
    case 'microsoft.compute/virtualmachines': {
      const storage = obj(p.storageProfile);
      return {
        size: obj(p.hardwareProfile).vmSize,
        osDiskId: idOf(obj(storage.osDisk).managedDisk),
        dataDisks: ((storage.dataDisks as unknown[] | undefined) ?? []).map((d) => ({
          lun: obj(d).lun,
          diskId: idOf(obj(d).managedDisk),
        })),
        networkInterfaceIds: (
          (obj(p.networkProfile).networkInterfaces as unknown[] | undefined) ?? []
        ).map(idOf),
      };
    }
    default:
      return {};
  }
}

/** A resource's ARM JSON (as any GET returns it) as the port's view. */
export function viewOf(body: Json): ResourceView {
  const id = String(body.id);
  const { type, resourceGroup, name } = parseId(id);
  const p = obj(body.properties);
  return {
    id,
    type,
    name,
    resourceGroup,
    location: String(body.location ?? ''),
    tags: (body.tags as Record<string, string> | undefined) ?? {},
    provisioningState: String(p.provisioningState ?? body.provisioningState ?? 'Succeeded'),
    properties: facts(type, body),
  };
}

const POWER_STATES: ReadonlySet<string> = new Set([
  'starting',
  'running',
  'stopping',
  'stopped',
  'deallocating',
  'deallocated',
]);

/** A VM's power state from its instance view's statuses (`PowerState/<state>`). */
export function powerStateOf(
  statuses: { code?: string }[] | undefined,
): VmInstanceView['powerState'] {
  const code = (statuses ?? []).map((s) => s.code ?? '').find((c) => c.startsWith('PowerState/'));
  const power = code?.split('/')[1] ?? 'unknown';
  return POWER_STATES.has(power) ? (power as VmInstanceView['powerState']) : 'unknown';
}
