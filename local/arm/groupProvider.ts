import { rmSync } from 'node:fs';
import type { ArmContext, ArmReply, ArmRequest } from './armContext';
import { groupNotFound } from './armError';
import { armJson, checkLocation, deleteReply, tagsOf } from './armJson';
import { resourceId } from './armRoute';
import type { StoredResource } from './armStore';

const GROUP = 'Microsoft.Resources/resourceGroups';
/** Deleting a group deletes its resources, users before what they use. */
const DELETE_ORDER = [
  'Microsoft.Compute/virtualMachines',
  'Microsoft.Network/networkInterfaces',
  'Microsoft.Network/publicIPAddresses',
  'Microsoft.Compute/snapshots',
  'Microsoft.Compute/disks',
  'Microsoft.Network/virtualNetworks/subnets',
  'Microsoft.Network/virtualNetworks',
  'Microsoft.Network/networkSecurityGroups',
];

/** Resource groups: PUT is synchronous in ARM; DELETE is an operation that empties the group. */
export class GroupProvider {
  constructor(private readonly ctx: ArmContext) {}

  private id(req: Pick<ArmRequest, 'route'>) {
    return resourceId(
      req.route.subscription,
      req.route.resourceGroup,
      GROUP,
      req.route.resourceGroup,
    );
  }

  get(req: ArmRequest): ArmReply {
    const g = this.ctx.store.get(this.id(req));
    if (!g) throw groupNotFound(req.route.resourceGroup);
    return { status: 200, body: armJson(g) };
  }

  put(req: ArmRequest): ArmReply {
    const location = checkLocation(this.ctx, req.body);
    const existing = this.ctx.store.get(this.id(req));
    const g = this.ctx.store.put({
      id: existing?.id ?? this.id(req),
      type: GROUP,
      name: existing?.name ?? req.route.resourceGroup,
      resourceGroup: req.route.resourceGroup,
      location,
      tags: tagsOf(req.body),
      properties: { provisioningState: 'Succeeded' },
    });
    return { status: existing ? 200 : 201, body: armJson(g) };
  }

  /** `GET …/resourceGroups/{rg}/resources`: every resource of the group (with `$expand=provisioningState`, its state). */
  resources(req: ArmRequest): ArmReply {
    this.ctx.requireGroup(req.route.subscription, req.route.resourceGroup);
    const expand = (req.query.get('$expand') ?? '').includes('provisioningState');
    const value = this.members(req).map((r) => ({
      id: r.id,
      name: r.id.split('/').slice(-1)[0],
      type: r.type,
      location: r.location,
      tags: r.tags,
      ...(expand ? { provisioningState: r.properties.provisioningState } : {}),
    }));
    return { status: 200, body: { value } };
  }

  private members(req: Pick<ArmRequest, 'route'>): StoredResource[] {
    return this.ctx.store.inGroup(
      `/subscriptions/${req.route.subscription}`,
      req.route.resourceGroup,
    );
  }

  delete(req: ArmRequest): ArmReply {
    const g = this.ctx.store.get(this.id(req));
    if (!g) return deleteReply();
    return deleteReply(
      this.ctx.begin(req, GROUP, g.id, async () => {
        const all = this.members(req);
        for (const type of DELETE_ORDER) {
          for (const r of all.filter((x) => x.type === type)) {
            if (type === DELETE_ORDER[0]) await this.ctx.runner.stop(r.id, { graceful: false });
            for (const f of [r.local?.file, r.local?.digests]) {
              if (f && type !== DELETE_ORDER[0]) rmSync(f, { force: true });
            }
            this.ctx.store.delete(r.id);
          }
        }
        this.ctx.store.delete(g.id);
        return undefined;
      }),
    );
  }
}
