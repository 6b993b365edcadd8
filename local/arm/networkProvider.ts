import { randomBytes } from 'node:crypto';
import type { ArmContext, ArmReply, ArmRequest } from './armContext';
import { badRequest } from './armError';
import { checkLocation, deleteReply, idOfRequest, props, putReply, tagsOf } from './armJson';
import type { StoredResource } from './armStore';
import { assignPrivateIp } from './assignPrivateIp';
import {
  NIC,
  nicIp,
  nicPublicIpId,
  nicSubnet,
  NSG,
  nsgOf,
  PIP,
  SUBNET,
  VNET,
} from './networkResources';
import { parseSecurityRules } from './securityRules';
import { VirtualNetworks } from './virtualNetworks';

/**
 * Microsoft.Network: virtual networks and subnets, NSGs, public IPs, NICs. Their creates are
 * quick in Azure too, yet still operations (the clients poll them), so they answer with
 * operation URLs and complete at once. ARM's refusals are kept: prefixes that do not fit,
 * addresses outside their subnet or taken, and deleting what is still in use.
 */
export class NetworkProvider {
  private readonly vnets: VirtualNetworks;

  constructor(private readonly ctx: ArmContext) {
    this.vnets = new VirtualNetworks(ctx);
  }

  private done(req: ArmRequest, id: string): Record<string, string> {
    return this.ctx.begin(req, `${req.route.type}`, id, async () => {
      this.ctx.provisioned(id, 'Succeeded');
      return undefined;
    });
  }

  /** GET of a vnet assembles its subnets (stored as child resources). */
  view(r: StoredResource): StoredResource {
    return this.vnets.view(r);
  }

  put(req: ArmRequest): ArmReply {
    this.ctx.requireGroup(req.route.subscription, req.route.resourceGroup);
    const id = idOfRequest(req);
    const existing = this.ctx.store.get(id);
    const build = {
      [VNET]: () => this.vnets.putVnet(req, id),
      [SUBNET]: () => this.vnets.putSubnet(req, id, req.body),
      [NSG]: () => this.nsg(req, id, existing),
      [PIP]: () => this.publicIp(req, id, existing),
      [NIC]: () => this.nic(req, id, existing),
    }[req.route.type];
    if (!build)
      throw badRequest(
        'InvalidResourceType',
        `The resource type '${req.route.type}' is not served here.`,
      );
    const r = build();
    return putReply(!existing, this.view(r), this.done(req, r.id));
  }

  private nsg(req: ArmRequest, id: string, existing?: StoredResource): StoredResource {
    const location = checkLocation(this.ctx, req.body);
    const rules = parseSecurityRules(id, req.route.name, props(req.body));
    return this.ctx.store.put({
      id,
      type: NSG,
      name: req.route.name,
      resourceGroup: req.route.resourceGroup,
      location,
      tags: tagsOf(req.body),
      properties: { securityRules: rules, provisioningState: existing ? 'Updating' : 'Creating' },
    });
  }

  private publicIp(req: ArmRequest, id: string, existing?: StoredResource): StoredResource {
    const location = checkLocation(this.ctx, req.body);
    const sku = (req.body.sku as { name?: string } | undefined)?.name ?? 'Standard';
    if (sku !== 'Standard')
      throw badRequest(
        'BasicSkuPublicIpRetired',
        'Basic SKU public IPs can no longer be created; use Standard.',
      );
    const method = props(req.body).publicIPAllocationMethod ?? 'Static';
    if (method !== 'Static')
      throw badRequest(
        'StandardSkuPublicIPAddressesMustBeStatic',
        'Standard sku publicIp addresses must be static.',
      );
    const loopbackIp = existing?.local?.loopbackIp ?? this.ctx.store.allocateLoopback();
    return this.ctx.store.put({
      id,
      type: PIP,
      name: req.route.name,
      resourceGroup: req.route.resourceGroup,
      location,
      tags: tagsOf(req.body),
      sku: { name: 'Standard' },
      properties: {
        publicIPAllocationMethod: 'Static',
        publicIPAddressVersion: 'IPv4',
        ipAddress: loopbackIp,
        ...(existing?.properties.ipConfiguration
          ? { ipConfiguration: existing.properties.ipConfiguration }
          : {}),
        provisioningState: existing ? 'Updating' : 'Creating',
      },
      local: { loopbackIp },
    });
  }

  private nic(req: ArmRequest, id: string, existing?: StoredResource): StoredResource {
    const location = checkLocation(this.ctx, req.body);
    const p = props(req.body);
    const configs =
      (p.ipConfigurations as
        { name?: string; properties?: Record<string, unknown> }[] | undefined) ?? [];
    if (configs.length !== 1)
      throw badRequest(
        'InvalidRequestFormat',
        'Exactly one ipConfiguration is supported by the local endpoint.',
      );
    const cp = configs[0]!.properties ?? {};
    const subnet = this.ctx.ref((cp.subnet as { id?: string } | undefined)?.id, SUBNET, 'subnet');
    const wanted = cp.privateIPAddress as string | undefined;
    const isStatic = wanted !== undefined && cp.privateIPAllocationMethod !== 'Dynamic';
    const ip = assignPrivateIp({
      nicId: id,
      subnet,
      wanted: isStatic ? wanted : undefined,
      taken: new Set(
        this.ctx.store
          .list(
            (r) =>
              r.type === NIC && !this.ctx.same(r.id, id) && this.ctx.same(nicSubnet(r), subnet.id),
          )
          .map(nicIp),
      ),
      previous: existing ? nicIp(existing) : undefined,
    });
    const pipId = (cp.publicIPAddress as { id?: string } | undefined)?.id;
    if (pipId) {
      const pip = this.ctx.ref(pipId, PIP, 'public IP address');
      const owner = (pip.properties.ipConfiguration as { id?: string } | undefined)?.id;
      if (owner && !owner.toLowerCase().startsWith(id.toLowerCase()))
        throw badRequest(
          'PublicIPAddressInUse',
          `Resource ${pip.id} is referenced by ${owner} and cannot be used again.`,
        );
      this.ctx.store.put({
        ...pip,
        properties: {
          ...pip.properties,
          ipConfiguration: { id: `${id}/ipConfigurations/ipconfig1` },
        },
      });
    }
    const nsgId = (p.networkSecurityGroup as { id?: string } | undefined)?.id;
    if (nsgId) this.ctx.ref(nsgId, NSG, 'network security group');
    const oldPip = existing ? nicPublicIpId(existing) : undefined;
    if (oldPip && !this.ctx.same(oldPip, pipId)) this.releasePip(oldPip);
    const mac =
      existing?.local?.mac ??
      `60-45-BD-${randomBytes(3).toString('hex').toUpperCase().match(/../g)!.join('-')}`;
    return this.ctx.store.put({
      id,
      type: NIC,
      name: req.route.name,
      resourceGroup: req.route.resourceGroup,
      location,
      tags: tagsOf(req.body),
      properties: {
        ipConfigurations: [
          {
            id: `${id}/ipConfigurations/${configs[0]!.name ?? 'ipconfig1'}`,
            name: configs[0]!.name ?? 'ipconfig1',
            properties: {
              privateIPAddress: ip,
              privateIPAllocationMethod: isStatic ? 'Static' : 'Dynamic',
              subnet: { id: subnet.id },
              ...(pipId ? { publicIPAddress: { id: pipId } } : {}),
              primary: true,
              provisioningState: 'Succeeded',
            },
          },
        ],
        ...(nsgId ? { networkSecurityGroup: { id: nsgId } } : {}),
        ...(existing?.properties.virtualMachine
          ? { virtualMachine: existing.properties.virtualMachine }
          : {}),
        macAddress: mac,
        provisioningState: existing ? 'Updating' : 'Creating',
      },
      local: { mac: mac.replace(/-/g, ':').toLowerCase() },
    });
  }

  private releasePip(pipId: string): void {
    const pip = this.ctx.store.get(pipId);
    if (!pip) return;
    const { ipConfiguration: _gone, ...rest } = pip.properties;
    this.ctx.store.put({ ...pip, properties: rest });
  }

  delete(req: ArmRequest): ArmReply {
    const id = idOfRequest(req);
    const r = this.ctx.store.get(id);
    if (!r) return deleteReply();
    this.vnets.checkDeletable(r);
    if (r.type === NSG) {
      const user = this.ctx.store.list(
        (x) => (x.type === NIC || x.type === SUBNET) && this.ctx.same(nsgOf(x), r.id),
      )[0];
      if (user)
        throw badRequest(
          'InUseNetworkSecurityGroupCannotBeDeleted',
          `Network security group ${r.id} cannot be deleted because it is in use by ${user.id}.`,
        );
    }
    if (r.type === PIP && r.properties.ipConfiguration)
      throw badRequest(
        'PublicIPAddressCannotBeDeleted',
        `Public IP address ${r.id} can not be deleted since it is still allocated to resource ${(r.properties.ipConfiguration as { id: string }).id}.`,
      );
    if (r.type === NIC && r.properties.virtualMachine)
      throw badRequest(
        'NicInUse',
        `Network Interface ${r.id} is used by existing resource ${(r.properties.virtualMachine as { id: string }).id}. In order to delete the network interface, it must be dissociated from the resource.`,
      );
    this.ctx.provisioned(id, 'Deleting');
    return deleteReply(
      this.ctx.begin(req, r.type, id, async () => {
        if (r.type === NIC) {
          const pip = nicPublicIpId(r);
          if (pip) this.releasePip(pip);
        }
        if (r.type === VNET)
          for (const s of this.vnets.subnetsOf(r.id)) this.ctx.store.delete(s.id);
        this.ctx.store.delete(id);
        return undefined;
      }),
    );
  }

  /** The NICs, subnets and NSGs facts the VM provider needs to run a guest. */
  nicFacts(nicId: string): {
    nic: StoredResource;
    privateIp: string;
    subnetPrefix: string;
    publicIp?: string;
    nsgIds: string[];
  } {
    const nic = this.ctx.ref(nicId, NIC, 'network interface');
    const subnet = this.ctx.store.get(nicSubnet(nic)!);
    const pipId = nicPublicIpId(nic);
    const pip = pipId ? this.ctx.store.get(pipId) : undefined;
    const nsgIds = [nsgOf(subnet), nsgOf(nic)].filter((x): x is string => !!x);
    return {
      nic,
      privateIp: nicIp(nic),
      subnetPrefix: String(subnet?.properties.addressPrefix ?? '10.0.0.0/24'),
      ...(pip?.local?.loopbackIp ? { publicIp: pip.local.loopbackIp } : {}),
      nsgIds,
    };
  }
}
