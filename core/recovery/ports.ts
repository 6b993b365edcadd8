/**
 * The recovery target port: the cloud a protected machine is recovered into (Azure Resource
 * Manager). `adapters/arm/` implements it with the real `@azure/arm-*` clients; in Azure it
 * talks to management.azure.com with a managed identity, locally to the stack's ARM endpoint
 * (`local/arm/`). Core code and sagas know nothing else of ARM.
 *
 * Why begin/poll: ARM creates, deletes and VM power actions are long-running operations. A
 * saga starts one in an activity (`begin*`, returns a JSON-serializable handle), waits on a
 * durable timer, and polls it in a later activity (`poll`), so no activity blocks for
 * minutes and a host restart loses nothing (the handle is in the saga's history).
 *
 * Idempotency: every `begin*` is safe to repeat (ARM PUT is idempotent on the resource id;
 * deleting a missing resource succeeds). Names are derived from the job id by the caller.
 *
 * Error contract (every implementation): a `HavenError` of kind `not-found` (404), `conflict`
 * (409: in use, name taken by another type), `validation` (400: Azure refuses the request),
 * `unauthenticated`/`forbidden` (401/403), `transient` (429, 5xx, network; retryable).
 * A failed long-running operation is an outcome (`status: 'failed'`), not a throw.
 */

/** Full ARM resource id: `/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name}`. */
export type ResourceId = string;

export type ResourceType =
  | 'Microsoft.Resources/resourceGroups'
  | 'Microsoft.Network/virtualNetworks'
  | 'Microsoft.Network/virtualNetworks/subnets'
  | 'Microsoft.Network/networkSecurityGroups'
  | 'Microsoft.Network/publicIPAddresses'
  | 'Microsoft.Network/networkInterfaces'
  | 'Microsoft.Compute/disks'
  | 'Microsoft.Compute/snapshots'
  | 'Microsoft.Compute/virtualMachines';

interface SpecBase {
  resourceGroup: string;
  name: string;
  location: string;
  tags?: Record<string, string>;
}

export interface ResourceGroupSpec {
  type: 'Microsoft.Resources/resourceGroups';
  name: string;
  location: string;
  tags?: Record<string, string>;
}

export interface VirtualNetworkSpec extends SpecBase {
  type: 'Microsoft.Network/virtualNetworks';
  addressPrefixes: string[];
  subnets: { name: string; addressPrefix: string; networkSecurityGroupId?: ResourceId }[];
}

export interface SubnetSpec {
  type: 'Microsoft.Network/virtualNetworks/subnets';
  resourceGroup: string;
  virtualNetwork: string;
  name: string;
  addressPrefix: string;
  networkSecurityGroupId?: ResourceId;
}

export interface SecurityRule {
  name: string;
  priority: number; // 100..4096
  direction: 'Inbound' | 'Outbound';
  access: 'Allow' | 'Deny';
  protocol: 'Tcp' | 'Udp' | '*';
  /** '*', a port or a range 'a-b'. */
  destinationPortRange: string;
  sourceAddressPrefix: string; // '*', CIDR or a service tag
}

export interface NetworkSecurityGroupSpec extends SpecBase {
  type: 'Microsoft.Network/networkSecurityGroups';
  rules: SecurityRule[];
}

export interface PublicIpSpec extends SpecBase {
  type: 'Microsoft.Network/publicIPAddresses';
  /** Standard SKU, static allocation (Azure's default for new IPs; closed unless an NSG allows). */
  sku?: 'Standard';
}

export interface NetworkInterfaceSpec extends SpecBase {
  type: 'Microsoft.Network/networkInterfaces';
  subnetId: ResourceId;
  /** Static private IP (must be free and inside the subnet); absent = dynamic. */
  privateIp?: string;
  publicIpId?: ResourceId;
  networkSecurityGroupId?: ResourceId;
}

export type DiskSource =
  /** From a fixed-VHD page blob (the replica, or a copy of one of its snapshots). */
  | { kind: 'import'; sourceUri: string; storageAccountId: ResourceId }
  /** From another managed disk or a snapshot. */
  | { kind: 'copy'; sourceResourceId: ResourceId }
  | { kind: 'empty'; sizeGiB: number };

export interface DiskSpec extends SpecBase {
  type: 'Microsoft.Compute/disks';
  source: DiskSource;
  osType?: 'Linux' | 'Windows';
  hyperVGeneration?: 'V1' | 'V2';
  sku?: 'Standard_LRS' | 'StandardSSD_LRS' | 'Premium_LRS';
}

export interface SnapshotSpec extends SpecBase {
  type: 'Microsoft.Compute/snapshots';
  sourceResourceId: ResourceId; // a disk
  incremental: boolean;
}

export interface VirtualMachineSpec extends SpecBase {
  type: 'Microsoft.Compute/virtualMachines';
  size: string; // e.g. Standard_B2s
  osDiskId: ResourceId;
  osType: 'Linux' | 'Windows';
  dataDisks: { lun: number; diskId: ResourceId }[];
  /** The first is primary. */
  networkInterfaceIds: ResourceId[];
  bootDiagnostics: boolean;
}

export type ResourceSpec =
  | ResourceGroupSpec
  | VirtualNetworkSpec
  | SubnetSpec
  | NetworkSecurityGroupSpec
  | PublicIpSpec
  | NetworkInterfaceSpec
  | DiskSpec
  | SnapshotSpec
  | VirtualMachineSpec;

export type PowerState =
  'starting' | 'running' | 'stopping' | 'stopped' | 'deallocating' | 'deallocated' | 'unknown';

/** What a GET tells; `properties` holds the facts sagas read, per type. */
export interface ResourceView {
  id: ResourceId;
  type: ResourceType;
  name: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  provisioningState: string;
  /**
   * disks: sizeBytes, diskState, managedBy?; snapshots: sizeBytes, incremental, sourceResourceId;
   * NICs: privateIp, publicIpId?, virtualMachineId?; public IPs: ipAddress;
   * subnets: addressPrefix, ipConfigurationIds; VMs: size, osDiskId, dataDisks, networkInterfaceIds.
   */
  properties: Record<string, unknown>;
}

export interface VmInstanceView {
  powerState: PowerState;
  /** Private IPs of its NICs (primary first) and the public IPs attached to them. */
  privateIps: string[];
  publicIps: string[];
}

/** A long-running operation in flight, as JSON (kept in the saga's history between polls). */
export interface OperationHandle {
  resourceId: ResourceId;
  action:
    | 'put'
    | 'delete'
    | 'start'
    | 'powerOff'
    | 'deallocate'
    | 'restart'
    | 'grantAccess'
    | 'revokeAccess';
  /** The adapter's serialized poller; absent when the operation completed at once. */
  state?: string;
}

export type OperationOutcome =
  | { status: 'running' }
  | { status: 'succeeded'; resource?: ResourceView; accessUri?: string }
  | { status: 'failed'; code: string; message: string; retryable: boolean };

export type VmAction = 'start' | 'powerOff' | 'deallocate' | 'restart';

/** A byte range of a disk, 512-aligned. */
export interface ByteRange {
  offset: number;
  length: number;
}

/** Reads of one snapshot through a short-lived grant (never seen outside the adapter). */
export interface SnapshotReader {
  readonly sizeBytes: number;
  /** [offset, offset+length) of the snapshot; 512-aligned. */
  read(offset: number, length: number): Promise<Buffer>;
  /** Revokes the grant (idempotent). */
  close(): Promise<void>;
}

export interface RecoveryTarget {
  /** The subscription's resource id prefix, e.g. `/subscriptions/{sub}`. */
  readonly subscriptionPath: string;
  /** Creates or updates a resource (idempotent PUT). */
  beginPut(spec: ResourceSpec): Promise<OperationHandle>;
  /** Deletes a resource (a missing one counts as deleted; VMs are force-deleted). */
  beginDelete(id: ResourceId): Promise<OperationHandle>;
  beginVmAction(vmId: ResourceId, action: VmAction): Promise<OperationHandle>;
  /** Grants read access to a disk or snapshot for `seconds`; the outcome carries `accessUri`. */
  beginGrantAccess(diskOrSnapshotId: ResourceId, seconds: number): Promise<OperationHandle>;
  beginRevokeAccess(diskOrSnapshotId: ResourceId): Promise<OperationHandle>;
  /** One poll of an operation started by a `begin*`. */
  poll(handle: OperationHandle): Promise<OperationOutcome>;
  /** The resource, or undefined when it does not exist. */
  get(id: ResourceId): Promise<ResourceView | undefined>;
  /** Every resource in a resource group (for leak checks and cleanup); [] when the group is missing. */
  list(resourceGroup: string): Promise<ResourceView[]>;
  instanceView(vmId: ResourceId): Promise<VmInstanceView>;
  /** The VM's serial console log (boot diagnostics), or undefined when it has none yet. */
  bootDiagnostics(vmId: ResourceId): Promise<string | undefined>;
  /**
   * Ranges that differ between an incremental snapshot and an earlier one of the same disk
   * (Azure: page-range diff of the two snapshots' access URIs); without a base, every written range.
   */
  changedRanges(snapshotId: ResourceId, baseSnapshotId?: ResourceId): Promise<ByteRange[]>;
  /**
   * Opens a snapshot for reading (grant access, ranged GETs of its access URI, revoke): the
   * failback diff reads the changed ranges this way. The access URI stays inside the adapter,
   * out of saga histories and logs.
   */
  openSnapshot(snapshotId: ResourceId, seconds: number): Promise<SnapshotReader>;
}
