import type { ArmContext } from './armContext';
import { DISK } from './computeTypes';
import { badRequest, conflict } from './armError';
import type { StoredResource } from './armStore';
import { NIC } from './networkResources';
import type { VmShape } from './vmShape';

const nicOwner = (n: StoredResource) =>
  (n.properties.virtualMachine as { id?: string } | undefined)?.id;

/**
 * The managed disks and NICs a VM holds: ARM refuses a disk that is not ready or attached
 * elsewhere and a NIC another VM uses; attaching marks them (`managedBy`, `virtualMachine`).
 */
export class VmAttachments {
  constructor(private readonly ctx: ArmContext) {}

  /** The shape's disks (OS disk first) and NICs, checked for attaching to `vmId`. */
  resolve(vmId: string, shape: VmShape): { disks: StoredResource[]; nics: StoredResource[] } {
    const disks = [shape.osDiskId, ...shape.dataDisks.map((d) => d.id)].map((d) =>
      this.ctx.ref(d, DISK, 'managed disk'),
    );
    for (const d of disks) {
      if (d.properties.provisioningState !== 'Succeeded')
        throw conflict(
          'OperationNotAllowed',
          `Disk ${d.name} is not ready (provisioningState ${String(d.properties.provisioningState)}).`,
        );
      if (d.managedBy && !this.ctx.same(d.managedBy, vmId))
        throw conflict(
          'OperationNotAllowed',
          `Disk ${d.name} is already attached to VM ${d.managedBy}.`,
        );
    }
    const nics = shape.nicIds.map((n) => this.ctx.ref(n, NIC, 'network interface'));
    for (const n of nics) {
      const owner = nicOwner(n);
      if (owner && !this.ctx.same(owner, vmId))
        throw badRequest(
          'NicInUse',
          `Network interface ${n.id} is used by existing resource ${owner}.`,
        );
    }
    return { disks, nics };
  }

  attach(vmId: string, disks: StoredResource[], nics: StoredResource[]): void {
    for (const d of disks)
      this.ctx.store.put({
        ...d,
        managedBy: vmId,
        properties: { ...d.properties, diskState: 'Attached' },
      });
    for (const n of nics)
      this.ctx.store.put({ ...n, properties: { ...n.properties, virtualMachine: { id: vmId } } });
  }

  detach(vmId: string): void {
    for (const d of this.ctx.store.list(
      (r) => r.type === DISK && this.ctx.same(r.managedBy, vmId),
    )) {
      const { managedBy: _m, ...rest } = d;
      this.ctx.store.put({ ...rest, properties: { ...d.properties, diskState: 'Unattached' } });
    }
    for (const n of this.ctx.store.list(
      (r) => r.type === NIC && this.ctx.same(nicOwner(r), vmId),
    )) {
      const { virtualMachine: _v, ...rest } = n.properties;
      this.ctx.store.put({ ...n, properties: rest });
    }
  }
}
