import { restorePoller } from '@azure/arm-compute';
import type { NetworkManagementClient } from '@azure/arm-network';
import type {
  NetworkInterfaceSpec,
  NetworkSecurityGroupSpec,
  OperationHandle,
  PublicIpSpec,
  ResourceSpec,
  SubnetSpec,
  VirtualNetworkSpec,
} from '../../core/recovery/ports';
import type { ArmClients } from './armClients';

/**
 * Starting ARM operations with the real clients and resuming their pollers from JSON in another
 * process (a later activity): compute's modular client serializes its poller and restores it
 * from the state alone (`restorePoller`); network's AutoRest client resumes from the state when
 * its begin method is called again with the same arguments (`resumeFrom`), so those are kept.
 */
export type SavedPoller =
  | { client: 'compute'; state: string }
  /** The operation failed before a poller could be kept (arm-network polls once inside begin). */
  | { client: 'failed'; message: string }
  | { client: 'network'; op: NetworkOp; args: unknown[]; state: string };

type NetworkOp =
  | 'virtualNetworks.beginCreateOrUpdate'
  | 'virtualNetworks.beginDelete'
  | 'subnets.beginCreateOrUpdate'
  | 'subnets.beginDelete'
  | 'networkSecurityGroups.beginCreateOrUpdate'
  | 'networkSecurityGroups.beginDelete'
  | 'publicIPAddresses.beginCreateOrUpdate'
  | 'publicIPAddresses.beginDelete'
  | 'networkInterfaces.beginCreateOrUpdate'
  | 'networkInterfaces.beginDelete';

interface AnyPoller {
  poll(): Promise<unknown>;
  isDone: boolean | (() => boolean);
}

export interface PollState {
  done: boolean;
  status?: string;
  error?: unknown;
  result?: unknown;
}

/** Calls `group.method(...args, options)` on the network client by name (the op names are a closed set). */
function callNetwork(
  network: NetworkManagementClient,
  op: NetworkOp,
  args: unknown[],
  options: object,
) {
  const [group, method] = op.split('.') as [string, string];
  const g = (
    network as unknown as Record<string, Record<string, (...a: unknown[]) => Promise<unknown>>>
  )[group]!;
  return g[method]!.call(g, ...args, options) as Promise<
    { toString(): string } & AnyPoller & {
        getOperationState(): { status: string; error?: unknown; result?: unknown };
      }
  >;
}

export async function beginNetwork(c: ArmClients, op: NetworkOp, args: unknown[]): Promise<string> {
  try {
    const poller = await callNetwork(c.network, op, args, { updateIntervalInMs: 0 });
    return JSON.stringify({
      client: 'network',
      op,
      args,
      state: poller.toString(),
    } satisfies SavedPoller);
  } catch (e) {
    // An operation that ended Failed by the first poll: an outcome, not a refusal of the request.
    const message = (e as Error)?.message ?? '';
    if (!/long-running operation has failed/i.test(message)) throw e;
    return JSON.stringify({ client: 'failed', message } satisfies SavedPoller);
  }
}

export async function beginCompute(poller: {
  submitted(): Promise<void>;
  serialize(): Promise<string>;
}): Promise<string> {
  await poller.submitted();
  return JSON.stringify({
    client: 'compute',
    state: await poller.serialize(),
  } satisfies SavedPoller);
}

/** One poll of a saved operation. */
export async function pollSaved(c: ArmClients, handle: OperationHandle): Promise<PollState> {
  const saved = JSON.parse(handle.state!) as SavedPoller;
  if (saved.client === 'failed')
    return { done: true, status: 'failed', error: new Error(saved.message) };
  if (saved.client === 'compute') {
    // restorePoller finds the operation from the URL and method in the state; the source
    // operation is only named in its error messages.
    const poller = restorePoller(c.compute, saved.state, c.compute.disks.createOrUpdate, {
      updateIntervalInMs: 0,
    });
    await poller.poll().catch(() => undefined);
    const st = poller.operationState;
    const done = poller.isDone;
    return { done, status: st?.status, error: st?.error, result: st?.result };
  }
  const poller = await callNetwork(c.network, saved.op, saved.args, {
    resumeFrom: saved.state,
    updateIntervalInMs: 0,
  });
  await poller.poll().catch(() => undefined);
  const st = poller.getOperationState();
  const done = typeof poller.isDone === 'function' ? poller.isDone() : poller.isDone;
  return { done, status: st.status, error: st.error, result: st.result };
}

export type NetworkSpec =
  VirtualNetworkSpec | SubnetSpec | NetworkSecurityGroupSpec | PublicIpSpec | NetworkInterfaceSpec;

export const isNetworkSpec = (spec: ResourceSpec): spec is NetworkSpec =>
  spec.type.startsWith('Microsoft.Network/');

/** The network client's arguments for a spec's PUT (flattened models: the serializer nests `properties`). */
export function networkPut(spec: NetworkSpec): { op: NetworkOp; args: unknown[] } {
  const base = 'location' in spec ? { location: spec.location, tags: spec.tags ?? {} } : {};
  switch (spec.type) {
    case 'Microsoft.Network/virtualNetworks':
      return {
        op: 'virtualNetworks.beginCreateOrUpdate',
        args: [
          spec.resourceGroup,
          spec.name,
          {
            ...base,
            addressSpace: { addressPrefixes: spec.addressPrefixes },
            subnets: spec.subnets.map((s) => ({
              name: s.name,
              addressPrefix: s.addressPrefix,
              ...(s.networkSecurityGroupId
                ? { networkSecurityGroup: { id: s.networkSecurityGroupId } }
                : {}),
            })),
          },
        ],
      };
    case 'Microsoft.Network/virtualNetworks/subnets':
      return {
        op: 'subnets.beginCreateOrUpdate',
        args: [
          spec.resourceGroup,
          spec.virtualNetwork,
          spec.name,
          {
            addressPrefix: spec.addressPrefix,
            ...(spec.networkSecurityGroupId
              ? { networkSecurityGroup: { id: spec.networkSecurityGroupId } }
              : {}),
          },
        ],
      };
    case 'Microsoft.Network/networkSecurityGroups':
      return {
        op: 'networkSecurityGroups.beginCreateOrUpdate',
        args: [
          spec.resourceGroup,
          spec.name,
          {
            ...base,
            securityRules: spec.rules.map((r) => ({
              ...r,
              sourcePortRange: '*',
              destinationAddressPrefix: '*',
            })),
          },
        ],
      };
    case 'Microsoft.Network/publicIPAddresses':
      return {
        op: 'publicIPAddresses.beginCreateOrUpdate',
        args: [
          spec.resourceGroup,
          spec.name,
          {
            ...base,
            sku: { name: 'Standard' },
            publicIPAllocationMethod: 'Static',
            publicIPAddressVersion: 'IPv4',
          },
        ],
      };
    case 'Microsoft.Network/networkInterfaces':
      return {
        op: 'networkInterfaces.beginCreateOrUpdate',
        args: [
          spec.resourceGroup,
          spec.name,
          {
            ...base,
            ipConfigurations: [
              {
                name: 'ipconfig1',
                primary: true,
                subnet: { id: spec.subnetId },
                privateIPAllocationMethod: spec.privateIp ? 'Static' : 'Dynamic',
                ...(spec.privateIp ? { privateIPAddress: spec.privateIp } : {}),
                ...(spec.publicIpId ? { publicIPAddress: { id: spec.publicIpId } } : {}),
              },
            ],
            ...(spec.networkSecurityGroupId
              ? { networkSecurityGroup: { id: spec.networkSecurityGroupId } }
              : {}),
          },
        ],
      };
  }
}

/** The network client's delete of a resource id, if it is a network resource. */
export function networkDelete(
  type: string,
  resourceGroup: string,
  name: string,
  parent?: string,
): { op: NetworkOp; args: unknown[] } | undefined {
  switch (type.toLowerCase()) {
    case 'microsoft.network/virtualnetworks':
      return { op: 'virtualNetworks.beginDelete', args: [resourceGroup, name] };
    case 'microsoft.network/virtualnetworks/subnets':
      return { op: 'subnets.beginDelete', args: [resourceGroup, parent, name] };
    case 'microsoft.network/networksecuritygroups':
      return { op: 'networkSecurityGroups.beginDelete', args: [resourceGroup, name] };
    case 'microsoft.network/publicipaddresses':
      return { op: 'publicIPAddresses.beginDelete', args: [resourceGroup, name] };
    case 'microsoft.network/networkinterfaces':
      return { op: 'networkInterfaces.beginDelete', args: [resourceGroup, name] };
    default:
      return undefined;
  }
}
