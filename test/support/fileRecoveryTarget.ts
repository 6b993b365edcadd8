import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { HavenError, conflict, validation } from '../../core/errors';
import type {
  OperationHandle,
  OperationOutcome,
  RecoveryTarget,
  ResourceId,
  ResourceSpec,
  ResourceView,
  VmAction,
  VmInstanceView,
} from '../../core/recovery/ports';

/**
 * A recovery target for saga tests that need no VM: resources live in a JSON file (so a
 * killed host's successor, and the test process, see the same state), long-running operations
 * end after `pollsToFinish` polls, a few of ARM's refusals are kept (references must exist,
 * a disk or NIC in use cannot be deleted), and faults can be injected per operation kind
 * (`put:<type>`, `delete:<type>`): fail at once (HTTP-like error) or as a failed operation.
 * The end-to-end tests against the real local ARM endpoint prove the rest.
 */
export interface Fault {
  op: string;
  /** 1-based: fail the nth matching call; absent = every call. */
  nth?: number;
  mode: 'throw' | 'lro-fail';
  code?: string;
}

interface Op {
  id: string;
  resourceId: string;
  action: OperationHandle['action'];
  pollsLeft: number;
  failure?: { code: string; message: string };
}

interface State {
  resources: Record<string, ResourceView>;
  ops: Record<string, Op>;
  calls: string[];
  faults: Fault[];
  nextIp: number;
}

export const SUBSCRIPTION = '/subscriptions/00000000-0000-0000-0000-000000000001';

const typeOf = (id: string) => {
  const m = /\/providers\/([^/]+\/[^/]+)\/[^/]+(\/subnets\/[^/]+)?$/i.exec(id);
  return m ? (m[2] ? `${m[1]}/subnets` : m[1]!) : 'Microsoft.Resources/resourceGroups';
};

export function idOf(spec: ResourceSpec): ResourceId {
  if (spec.type === 'Microsoft.Resources/resourceGroups')
    return `${SUBSCRIPTION}/resourceGroups/${spec.name}`;
  if (spec.type === 'Microsoft.Network/virtualNetworks/subnets')
    return `${SUBSCRIPTION}/resourceGroups/${spec.resourceGroup}/providers/Microsoft.Network/virtualNetworks/${spec.virtualNetwork}/subnets/${spec.name}`;
  return `${SUBSCRIPTION}/resourceGroups/${spec.resourceGroup}/providers/${spec.type}/${spec.name}`;
}

/**
 * The n-th address handed out under a /16 (x.y.0.4 on): never a .0, .255 or an octet past 255,
 * however many a long run allocates (a bench makes hundreds).
 */
function address(prefix16: string, n: number): string {
  return `${prefix16}.${Math.floor(n / 250)}.${(n % 250) + 4}`;
}

export class FileRecoveryTarget implements RecoveryTarget {
  readonly subscriptionPath = SUBSCRIPTION;
  constructor(
    readonly file: string,
    private readonly pollsToFinish = 1,
  ) {}

  read(): State {
    if (!existsSync(this.file)) return { resources: {}, ops: {}, calls: [], faults: [], nextIp: 0 };
    return JSON.parse(readFileSync(this.file, 'utf8')) as State;
  }

  private write(s: State): void {
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileSync(`${this.file}.tmp`, JSON.stringify(s));
    renameSync(`${this.file}.tmp`, this.file);
  }

  private change<T>(f: (s: State) => T): T {
    const s = this.read();
    const out = f(s);
    this.write(s);
    return out;
  }

  setFaults(faults: Fault[]): void {
    this.change((s) => void (s.faults = faults));
  }

  /** A fault for this call, if one is set (counting calls of the same op kind). */
  private fault(s: State, op: string): Fault | undefined {
    s.calls.push(op);
    const n = s.calls.filter((c) => c === op).length;
    return s.faults.find((f) => f.op === op && (f.nth === undefined || f.nth === n));
  }

  private startOp(s: State, resourceId: string, action: Op['action'], f?: Fault): OperationHandle {
    const id = `op-${Object.keys(s.ops).length + 1}-${s.calls.length}`;
    s.ops[id] = {
      id,
      resourceId,
      action,
      pollsLeft: this.pollsToFinish,
      ...(f ? { failure: { code: f.code ?? 'InjectedFault', message: 'injected fault' } } : {}),
    };
    return { resourceId, action, state: id };
  }

  async beginPut(spec: ResourceSpec): Promise<OperationHandle> {
    return this.change((s) => {
      const id = idOf(spec);
      const f = this.fault(s, `put:${spec.type}`);
      if (f?.mode === 'throw')
        throw new HavenError('transient', `injected: put ${spec.type} refused`);
      const rg = 'resourceGroup' in spec ? spec.resourceGroup : spec.name;
      const exists = (x: string | undefined) => !x || s.resources[x.toLowerCase()];
      const props: Record<string, unknown> = {};
      // A PUT of an existing NIC or public IP keeps its address, as Azure does (a retried PUT).
      const before = s.resources[id.toLowerCase()]?.properties;
      if (
        spec.type !== 'Microsoft.Resources/resourceGroups' &&
        !s.resources[`${SUBSCRIPTION}/resourcegroups/${rg}`.toLowerCase()]
      )
        throw new HavenError('not-found', `Resource group '${rg}' could not be found.`);
      if (spec.type === 'Microsoft.Network/networkInterfaces') {
        if (
          !exists(spec.subnetId) ||
          !exists(spec.publicIpId) ||
          !exists(spec.networkSecurityGroupId)
        )
          throw validation('A referenced resource of the NIC does not exist.');
        props.privateIp = spec.privateIp ?? before?.privateIp ?? address('10.0', s.nextIp++);
        if (spec.publicIpId) props.publicIpId = spec.publicIpId;
      }
      if (spec.type === 'Microsoft.Network/publicIPAddresses')
        props.ipAddress = before?.ipAddress ?? address('127.77', s.nextIp++);
      if (spec.type === 'Microsoft.Compute/disks') {
        if (spec.source.kind === 'import' && /[?&]snapshot=/.test(spec.source.sourceUri))
          throw validation('Import from a snapshot URI is not supported.');
        props.source = spec.source;
      }
      if (spec.type === 'Microsoft.Compute/virtualMachines') {
        for (const d of [
          spec.osDiskId,
          ...spec.dataDisks.map((x) => x.diskId),
          ...spec.networkInterfaceIds,
        ])
          if (!exists(d)) throw validation(`'${d}' does not exist.`);
        for (const d of [spec.osDiskId, ...spec.dataDisks.map((x) => x.diskId)])
          s.resources[d.toLowerCase()]!.properties.managedBy = id;
        for (const n of spec.networkInterfaceIds)
          s.resources[n.toLowerCase()]!.properties.virtualMachineId = id;
        Object.assign(props, {
          osDiskId: spec.osDiskId,
          networkInterfaceIds: spec.networkInterfaceIds,
          size: spec.size,
        });
      }
      s.resources[id.toLowerCase()] = {
        id,
        type: spec.type,
        name: spec.name,
        resourceGroup: rg,
        location: 'location' in spec ? spec.location : 'local',
        tags: ('tags' in spec ? spec.tags : undefined) ?? {},
        provisioningState: 'Creating',
        properties: props,
      };
      if (spec.type === 'Microsoft.Network/virtualNetworks')
        for (const sub of spec.subnets) {
          const sid = `${id}/subnets/${sub.name}`;
          s.resources[sid.toLowerCase()] = {
            id: sid,
            type: 'Microsoft.Network/virtualNetworks/subnets',
            name: sub.name,
            resourceGroup: rg,
            location: spec.location,
            tags: {},
            provisioningState: 'Succeeded',
            properties: { addressPrefix: sub.addressPrefix },
          };
        }
      return this.startOp(s, id, 'put', f?.mode === 'lro-fail' ? f : undefined);
    });
  }

  async beginDelete(id: ResourceId): Promise<OperationHandle> {
    return this.change((s) => {
      const f = this.fault(s, `delete:${typeOf(id)}`);
      if (f?.mode === 'throw')
        throw new HavenError('transient', `injected: delete ${typeOf(id)} refused`);
      const r = s.resources[id.toLowerCase()];
      if (r?.properties.managedBy || r?.properties.virtualMachineId)
        throw conflict(`'${id}' is in use by a virtual machine.`);
      if (r && f?.mode !== 'lro-fail') {
        if (r.type === 'Microsoft.Compute/virtualMachines')
          for (const x of Object.values(s.resources)) {
            if (x.properties.managedBy === r.id) delete x.properties.managedBy;
            if (x.properties.virtualMachineId === r.id) delete x.properties.virtualMachineId;
          }
        for (const k of Object.keys(s.resources))
          if (k === id.toLowerCase() || k.startsWith(`${id.toLowerCase()}/`)) delete s.resources[k];
      }
      return this.startOp(s, id, 'delete', f?.mode === 'lro-fail' ? f : undefined);
    });
  }

  async beginVmAction(vmId: ResourceId, action: VmAction): Promise<OperationHandle> {
    return this.change((s) => this.startOp(s, vmId, action));
  }

  async beginGrantAccess(): Promise<OperationHandle> {
    throw new Error('not needed by these tests');
  }

  async beginRevokeAccess(): Promise<OperationHandle> {
    throw new Error('not needed by these tests');
  }

  async poll(handle: OperationHandle): Promise<OperationOutcome> {
    return this.change((s) => {
      const op = handle.state ? s.ops[handle.state] : undefined;
      if (!op) throw new HavenError('not-found', 'unknown operation');
      if (op.pollsLeft > 0) {
        op.pollsLeft--;
        return { status: 'running' };
      }
      if (op.failure) return { status: 'failed', ...op.failure, retryable: false };
      const r = s.resources[op.resourceId.toLowerCase()];
      if (r) r.provisioningState = 'Succeeded';
      return { status: 'succeeded', ...(r && op.action === 'put' ? { resource: r } : {}) };
    });
  }

  async get(id: ResourceId): Promise<ResourceView | undefined> {
    return this.read().resources[id.toLowerCase()];
  }

  async list(resourceGroup: string): Promise<ResourceView[]> {
    return Object.values(this.read().resources).filter(
      (r) => r.resourceGroup === resourceGroup && r.type !== 'Microsoft.Resources/resourceGroups',
    );
  }

  async instanceView(vmId: ResourceId): Promise<VmInstanceView> {
    const s = this.read();
    const vm = s.resources[vmId.toLowerCase()];
    if (!vm) throw new HavenError('not-found', `VM '${vmId}' not found`);
    const nics = (vm.properties.networkInterfaceIds as string[]).map(
      (n) => s.resources[n.toLowerCase()]!,
    );
    const pips = nics.flatMap((n) =>
      n.properties.publicIpId ? [s.resources[String(n.properties.publicIpId).toLowerCase()]!] : [],
    );
    return {
      powerState: vm.provisioningState === 'Succeeded' ? 'running' : 'starting',
      privateIps: nics.map((n) => String(n.properties.privateIp)),
      publicIps: pips.map((p) => String(p.properties.ipAddress)),
    };
  }

  async bootDiagnostics(): Promise<string | undefined> {
    return undefined;
  }

  async changedRanges(): Promise<never> {
    throw new Error('not needed by these tests');
  }

  async openSnapshot(): Promise<never> {
    throw new Error('not needed by these tests');
  }
}
