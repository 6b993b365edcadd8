import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { VmPlatformUnavailable, type VmLaunchSpec } from '../vm/types';
import type { ArmContext, ArmReply, ArmRequest } from './armContext';
import { ArmError, badRequest, conflict, notFound } from './armError';
import {
  armJson,
  checkLocation,
  deleteReply,
  idOfRequest,
  props,
  putReply,
  tagsOf,
} from './armJson';
import type { StoredResource } from './armStore';
import type { NetworkProvider } from './networkProvider';
import { allowedInboundPorts } from './nsgPorts';
import { isKnownVmSize } from './vmSizes';

const VM = 'Microsoft.Compute/virtualMachines';
const DISK = 'Microsoft.Compute/disks';
const NIC = 'Microsoft.Network/networkInterfaces';
const NSG = 'Microsoft.Network/networkSecurityGroups';

interface VmShape {
  osDiskId: string;
  dataDisks: { lun: number; id: string }[];
  nicIds: string[];
}

/**
 * Microsoft.Compute virtual machines, run as QEMU guests by the VM runner. A create succeeds
 * only once the guest's QEMU runs; a host that cannot run VMs fails the operation with
 * `VMPlatformUnavailable` and what to install, never a fake "running". Power actions map to the
 * runner; boot diagnostics are the guest's serial console.
 */
export class VmProvider {
  constructor(
    private readonly ctx: ArmContext,
    private readonly network: NetworkProvider,
  ) {
    mkdirSync(ctx.vmDir, { recursive: true, mode: 0o700 });
  }

  private shape(body: Record<string, unknown>): VmShape {
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
      throw badRequest(
        'InvalidParameter',
        'Data disk LUNs must be distinct integers from 0 to 63.',
      );
    }
    const nicIds = (
      ((p.networkProfile as Record<string, unknown> | undefined)?.networkInterfaces as
        { id?: string }[] | undefined) ?? []
    ).map((n) => String(n.id));
    if (nicIds.length === 0)
      throw badRequest(
        'InvalidParameter',
        'A virtual machine needs at least one network interface.',
      );
    return {
      osDiskId: String(osDiskId),
      dataDisks: dataDisks.sort((a, b) => a.lun - b.lun),
      nicIds,
    };
  }

  put(req: ArmRequest): ArmReply {
    this.ctx.requireGroup(req.route.subscription, req.route.resourceGroup);
    const id = idOfRequest(req);
    const existing = this.ctx.store.get(id);
    const location = checkLocation(this.ctx, req.body);
    const p = props(req.body);
    const size = String((p.hardwareProfile as { vmSize?: string } | undefined)?.vmSize ?? '');
    if (!isKnownVmSize(size))
      throw badRequest(
        'InvalidParameter',
        `The value ${size} provided for the VM size is not valid.`,
      );
    const shape = this.shape(req.body);
    const disks = [shape.osDiskId, ...shape.dataDisks.map((d) => d.id)].map((d) =>
      this.ctx.ref(d, DISK, 'managed disk'),
    );
    for (const d of disks) {
      if (d.properties.provisioningState !== 'Succeeded')
        throw conflict(
          'OperationNotAllowed',
          `Disk ${d.name} is not ready (provisioningState ${String(d.properties.provisioningState)}).`,
        );
      if (d.managedBy && !this.ctx.same(d.managedBy, id))
        throw conflict(
          'OperationNotAllowed',
          `Disk ${d.name} is already attached to VM ${d.managedBy}.`,
        );
    }
    const nics = shape.nicIds.map((n) => this.ctx.ref(n, NIC, 'network interface'));
    for (const n of nics) {
      const owner = (n.properties.virtualMachine as { id?: string } | undefined)?.id;
      if (owner && !this.ctx.same(owner, id))
        throw badRequest(
          'NicInUse',
          `Network interface ${n.id} is used by existing resource ${owner}.`,
        );
    }
    if (existing) {
      const was = this.shape({ properties: existing.properties });
      const changed = JSON.stringify(was).toLowerCase() !== JSON.stringify(shape).toLowerCase();
      if (changed && this.ctx.runner.state(id) === 'running') {
        throw conflict(
          'OperationNotAllowed',
          'Disks and network interfaces of a VM can only be changed while it is stopped or deallocated.',
        );
      }
      this.detach(existing);
    }
    for (const d of disks)
      this.ctx.store.put({
        ...d,
        managedBy: id,
        properties: { ...d.properties, diskState: 'Attached' },
      });
    for (const n of nics)
      this.ctx.store.put({ ...n, properties: { ...n.properties, virtualMachine: { id } } });
    const r = this.ctx.store.put({
      id,
      type: VM,
      name: req.route.name,
      resourceGroup: req.route.resourceGroup,
      location,
      tags: tagsOf(req.body),
      properties: {
        vmId: (existing?.properties.vmId as string | undefined) ?? randomUUID(),
        hardwareProfile: { vmSize: size },
        storageProfile: {
          osDisk: {
            osType:
              (props(req.body).storageProfile as { osDisk: { osType?: string } }).osDisk.osType ??
              'Linux',
            createOption: 'Attach',
            name: disks[0]!.name,
            managedDisk: { id: disks[0]!.id },
          },
          dataDisks: shape.dataDisks.map((d, i) => ({
            lun: d.lun,
            createOption: 'Attach',
            name: disks[i + 1]!.name,
            managedDisk: { id: disks[i + 1]!.id },
          })),
        },
        networkProfile: {
          networkInterfaces: nics.map((n, i) => ({ id: n.id, properties: { primary: i === 0 } })),
        },
        diagnosticsProfile: { bootDiagnostics: { enabled: true } },
        provisioningState: existing ? 'Updating' : 'Creating',
      },
      local: {
        file:
          existing?.local?.file ??
          join(this.ctx.vmDir, `${req.route.name}-${randomUUID()}.serial.log`),
        accessToken: existing?.local?.accessToken ?? randomBytes(24).toString('base64url'),
        power: existing?.local?.power ?? 'running',
      },
    });
    return putReply(
      !existing,
      r,
      this.ctx.begin(req, VM, id, async () => {
        const now = this.ctx.store.get(id)!;
        if (now.local?.power === 'running') await this.run(now);
        this.ctx.provisioned(id, 'Succeeded');
        return undefined;
      }),
    );
  }

  /** The runner's launch spec of a VM, from its disks, NICs and the NSGs that apply. */
  launchSpec(vm: StoredResource): VmLaunchSpec {
    const shape = this.shape({ properties: vm.properties });
    const file = (id: string) => this.ctx.ref(id, DISK, 'managed disk').local!.file!;
    return {
      id: vm.id,
      name: vm.name,
      memoryMiB: this.ctx.opts.vmMemoryMiB,
      cpus: 1,
      disks: [file(shape.osDiskId), ...shape.dataDisks.map((d) => file(d.id))],
      nics: shape.nicIds.map((n) => {
        const f = this.network.nicFacts(n);
        const nsgs = f.nsgIds
          .map((x) => this.ctx.store.get(x))
          .filter((x): x is StoredResource => !!x && x.type === NSG);
        return {
          mac: f.nic.local!.mac!,
          subnet: f.subnetPrefix,
          privateIp: f.privateIp,
          ...(f.publicIp ? { publicIp: f.publicIp } : {}),
          tcpPorts: f.publicIp ? allowedInboundPorts(nsgs) : [],
        };
      }),
      serialLogPath: vm.local!.file!,
    };
  }

  /** Starts the guest; a host that cannot run VMs fails the operation, and the VM reads stopped. */
  private async run(vm: StoredResource): Promise<void> {
    try {
      await this.ctx.runner.start(this.launchSpec(vm));
      this.setLocal(vm.id, { power: 'running', statusMessage: undefined });
    } catch (e) {
      this.setLocal(vm.id, { power: 'stopped', statusMessage: (e as Error).message });
      this.ctx.provisioned(vm.id, 'Failed');
      if (e instanceof VmPlatformUnavailable)
        throw new ArmError(409, 'VMPlatformUnavailable', e.message);
      throw new ArmError(500, 'VMStartFailed', (e as Error).message);
    }
  }

  private setLocal(id: string, patch: Partial<NonNullable<StoredResource['local']>>): void {
    const r = this.ctx.store.get(id);
    if (r) this.ctx.store.put({ ...r, local: { ...r.local, ...patch } });
  }

  private detach(vm: StoredResource): void {
    for (const d of this.ctx.store.list(
      (r) => r.type === DISK && this.ctx.same(r.managedBy, vm.id),
    )) {
      const { managedBy: _m, ...rest } = d;
      this.ctx.store.put({ ...rest, properties: { ...d.properties, diskState: 'Unattached' } });
    }
    for (const n of this.ctx.store.list(
      (r) =>
        r.type === NIC &&
        this.ctx.same((r.properties.virtualMachine as { id?: string } | undefined)?.id, vm.id),
    )) {
      const { virtualMachine: _v, ...rest } = n.properties;
      this.ctx.store.put({ ...n, properties: rest });
    }
  }

  delete(req: ArmRequest): ArmReply {
    const id = idOfRequest(req);
    const vm = this.ctx.store.get(id);
    if (!vm) return deleteReply();
    this.ctx.provisioned(id, 'Deleting');
    return deleteReply(
      this.ctx.begin(req, VM, id, async () => {
        await this.ctx.runner.stop(id, { graceful: false });
        this.detach(vm);
        this.ctx.store.delete(id);
        return undefined;
      }),
    );
  }

  action(req: ArmRequest, action: string): ArmReply {
    const id = idOfRequest(req);
    const vm = this.ctx.store.get(id);
    if (!vm) throw notFound(VM, req.route.name, req.route.resourceGroup);
    if (action === 'instanceView') return { status: 200, body: this.instanceView(vm) };
    if (action === 'retrieveBootDiagnosticsData') {
      const uri = `${this.ctx.baseUrl}/haven/serial-log/${encodeURIComponent(vm.name)}?sig=${vm.local?.accessToken}`;
      return { status: 200, body: { consoleScreenshotBlobUri: uri, serialConsoleLogBlobUri: uri } };
    }
    const graceful = req.query.get('skipShutdown') !== 'true';
    const work: Record<string, () => Promise<void>> = {
      start: () => this.run(this.ctx.store.get(id)!),
      powerOff: async () => {
        await this.ctx.runner.stop(id, { graceful, timeoutMs: 3_000 });
        this.setLocal(id, { power: 'stopped' });
      },
      deallocate: async () => {
        await this.ctx.runner.stop(id, { graceful: true, timeoutMs: 3_000 });
        this.setLocal(id, { power: 'deallocated' });
      },
      restart: async () => {
        await this.ctx.runner.stop(id, { graceful: true, timeoutMs: 3_000 });
        await this.run(this.ctx.store.get(id)!);
      },
    };
    const fn = work[action];
    if (!fn)
      throw badRequest(
        'InvalidResourceType',
        `Action '${action}' is not served for virtual machines here.`,
      );
    return {
      status: 202,
      headers: this.ctx.begin(req, `${VM}/${action}`, id, async () => {
        await fn();
        return undefined;
      }),
    };
  }

  private instanceView(vm: StoredResource): Record<string, unknown> {
    const live = this.ctx.runner.state(vm.id) === 'running';
    const power = live ? 'running' : vm.local?.power === 'deallocated' ? 'deallocated' : 'stopped';
    const display = { running: 'VM running', stopped: 'VM stopped', deallocated: 'VM deallocated' }[
      power
    ];
    return {
      computerName: vm.name,
      statuses: [
        {
          code: `ProvisioningState/${String(vm.properties.provisioningState).toLowerCase()}`,
          level: 'Info',
          displayStatus: `Provisioning ${String(vm.properties.provisioningState).toLowerCase()}`,
        },
        {
          code: `PowerState/${power}`,
          level: 'Info',
          displayStatus: display,
          ...(vm.local?.statusMessage && !live ? { message: vm.local.statusMessage } : {}),
        },
      ],
    };
  }

  /** After a restart of the endpoint: guests that should run are adopted or started again. */
  async recover(): Promise<void> {
    const vms = this.ctx.store.list((r) => r.type === VM && r.local?.power === 'running');
    const outcomes = await this.ctx.runner.recover(vms.map((v) => this.launchSpec(v)));
    for (const o of outcomes)
      if (o.outcome === 'failed') this.setLocal(o.id, { statusMessage: o.error });
  }

  view(r: StoredResource): Record<string, unknown> {
    return armJson(r);
  }
}
