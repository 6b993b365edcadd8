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
import { DISK, VM } from './computeTypes';
import type { NetworkProvider } from './networkProvider';
import { NSG } from './networkResources';
import { allowedInboundPorts } from './nsgPorts';
import { VmAttachments } from './vmAttachments';
import { vmInstanceView } from './vmInstanceView';
import { parseVmShape } from './vmShape';
import { isKnownVmSize } from './vmSizes';

/**
 * Microsoft.Compute virtual machines, run as QEMU guests by the VM runner. A create succeeds
 * only once the guest's QEMU runs; a host that cannot run VMs fails the operation with
 * `VMPlatformUnavailable` and what to install, never a fake "running". Power actions map to the
 * runner; boot diagnostics are the guest's serial console.
 */
export class VmProvider {
  private readonly attachments: VmAttachments;

  constructor(
    private readonly ctx: ArmContext,
    private readonly network: NetworkProvider,
  ) {
    this.attachments = new VmAttachments(ctx);
    mkdirSync(ctx.vmDir, { recursive: true, mode: 0o700 });
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
    const shape = parseVmShape(req.body);
    const { disks, nics } = this.attachments.resolve(id, shape);
    if (existing) {
      const was = parseVmShape({ properties: existing.properties });
      const changed = JSON.stringify(was).toLowerCase() !== JSON.stringify(shape).toLowerCase();
      if (changed && this.ctx.runner.state(id) === 'running') {
        throw conflict(
          'OperationNotAllowed',
          'Disks and network interfaces of a VM can only be changed while it is stopped or deallocated.',
        );
      }
      this.attachments.detach(existing.id);
    }
    this.attachments.attach(id, disks, nics);
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
    const shape = parseVmShape({ properties: vm.properties });
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

  delete(req: ArmRequest): ArmReply {
    const id = idOfRequest(req);
    const vm = this.ctx.store.get(id);
    if (!vm) return deleteReply();
    this.ctx.provisioned(id, 'Deleting');
    return deleteReply(
      this.ctx.begin(req, VM, id, async () => {
        await this.ctx.runner.stop(id, { graceful: false });
        this.attachments.detach(vm.id);
        this.ctx.store.delete(id);
        return undefined;
      }),
    );
  }

  action(req: ArmRequest, action: string): ArmReply {
    const id = idOfRequest(req);
    const vm = this.ctx.store.get(id);
    if (!vm) throw notFound(VM, req.route.name, req.route.resourceGroup);
    if (action === 'instanceView') {
      const live = this.ctx.runner.state(vm.id) === 'running';
      return { status: 200, body: vmInstanceView(vm, live) };
    }
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
