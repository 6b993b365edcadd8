import { cidrsOverlap, formatIpv4, parseCidr } from '../../core/recovery/ipv4';
import type { ArmContext, ArmRequest } from './armContext';
import { badRequest, notFound } from './armError';
import { checkLocation, props, tagsOf } from './armJson';
import type { StoredResource } from './armStore';
import { NIC, NSG, nicSubnet, SUBNET, VNET } from './networkResources';

/** An address prefix as ARM takes it: a CIDR whose host bits are clear. */
function checkPrefix(p: unknown, what: string): string {
  if (typeof p !== 'string' || !parseCidr(p))
    throw badRequest('InvalidAddressPrefixFormat', `${what} '${String(p)}' is not a valid CIDR.`);
  const c = parseCidr(p)!;
  if (formatIpv4(c.base) !== p.split('/')[0]) {
    throw badRequest(
      'InvalidCIDRNotation',
      `The address prefix ${p} in resource ${what} has an invalid CIDR notation. For the given prefix length, the address prefix should be ${formatIpv4(c.base)}/${c.bits}.`,
    );
  }
  return p;
}

/**
 * Virtual networks and their subnets, stored as child resources: a subnet must fit its
 * network's address space and not overlap its siblings, and one in use by a NIC cannot go
 * (neither by a network PUT that leaves it out).
 */
export class VirtualNetworks {
  constructor(private readonly ctx: ArmContext) {}

  subnetsOf(vnetId: string): StoredResource[] {
    const prefix = `${vnetId}/subnets/`.toLowerCase();
    return this.ctx.store.list((r) => r.type === SUBNET && r.id.toLowerCase().startsWith(prefix));
  }

  subnetInUse(subnetId: string): boolean {
    return this.ctx.store
      .list((r) => r.type === NIC)
      .some((n) => this.ctx.same(nicSubnet(n), subnetId));
  }

  /** GET of a vnet assembles its subnets. */
  view(r: StoredResource): StoredResource {
    if (r.type !== VNET) return r;
    return {
      ...r,
      properties: {
        ...r.properties,
        subnets: this.subnetsOf(r.id).map((s) => ({
          id: s.id,
          name: s.name,
          type: s.type,
          properties: s.properties,
        })),
      },
    };
  }

  putVnet(req: ArmRequest, id: string): StoredResource {
    const location = checkLocation(this.ctx, req.body);
    const p = props(req.body);
    const prefixes = (
      (p.addressSpace as { addressPrefixes?: unknown[] } | undefined)?.addressPrefixes ?? []
    ).map((x) => checkPrefix(x, 'addressSpace'));
    if (prefixes.length === 0)
      throw badRequest('InvalidRequestFormat', 'addressSpace.addressPrefixes is required.');
    const inline =
      (p.subnets as { name: string; properties?: Record<string, unknown> }[] | undefined) ?? [];
    const current = this.subnetsOf(id);
    for (const s of current) {
      if (
        !inline.some((i) => i.name?.toLowerCase() === s.name.toLowerCase()) &&
        this.subnetInUse(s.id)
      ) {
        throw badRequest(
          'InUseSubnetCannotBeDeleted',
          `Subnet ${s.name} is in use by a network interface and cannot be deleted.`,
        );
      }
    }
    const r = this.ctx.store.put({
      id,
      type: VNET,
      name: req.route.name,
      resourceGroup: req.route.resourceGroup,
      location,
      tags: tagsOf(req.body),
      properties: { addressSpace: { addressPrefixes: prefixes }, provisioningState: 'Updating' },
    });
    for (const s of current)
      if (!inline.some((i) => i.name?.toLowerCase() === s.name.toLowerCase()))
        this.ctx.store.delete(s.id);
    for (const s of inline)
      this.putSubnet(req, `${id}/subnets/${s.name}`, s as Record<string, unknown>, prefixes);
    return r;
  }

  putSubnet(
    req: ArmRequest,
    id: string,
    body: Record<string, unknown>,
    vnetPrefixes?: string[],
  ): StoredResource {
    const name = id.split('/').pop()!;
    const vnetId = id.slice(0, id.toLowerCase().lastIndexOf('/subnets/'));
    const vnet = this.ctx.store.get(vnetId);
    if (!vnet && !vnetPrefixes)
      throw notFound(VNET, vnetId.split('/').pop()!, req.route.resourceGroup);
    const prefixes =
      vnetPrefixes ??
      (vnet!.properties.addressSpace as { addressPrefixes: string[] }).addressPrefixes;
    const p = props(body);
    const prefix = checkPrefix(p.addressPrefix, `subnet ${name}`);
    if (
      !prefixes.some(
        (v) => cidrsOverlap(v, prefix) && parseCidr(v)!.bits <= parseCidr(prefix)!.bits,
      )
    ) {
      throw badRequest(
        'NetcfgSubnetRangeOutsideVnet',
        `Subnet '${name}' is not valid because its IP address range is outside the IP address range of virtual network.`,
      );
    }
    const clash = this.subnetsOf(vnetId).find(
      (s) => !this.ctx.same(s.id, id) && cidrsOverlap(String(s.properties.addressPrefix), prefix),
    );
    if (clash)
      throw badRequest(
        'NetcfgInvalidSubnet',
        `Subnet '${name}' is not valid in virtual network: its range overlaps subnet '${clash.name}'.`,
      );
    const nsg = (p.networkSecurityGroup as { id?: string } | undefined)?.id;
    if (nsg) this.ctx.ref(nsg, NSG, 'network security group');
    return this.ctx.store.put({
      id,
      type: SUBNET,
      name,
      resourceGroup: req.route.resourceGroup,
      location: this.ctx.opts.location,
      tags: {},
      properties: {
        addressPrefix: prefix,
        ...(nsg ? { networkSecurityGroup: { id: nsg } } : {}),
        provisioningState: 'Succeeded',
      },
    });
  }

  /** ARM refuses to delete a subnet, or a network, with a NIC in it. */
  checkDeletable(r: StoredResource): void {
    if (r.type === SUBNET && this.subnetInUse(r.id))
      throw badRequest(
        'InUseSubnetCannotBeDeleted',
        `Subnet ${r.name} is in use by a network interface and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet.`,
      );
    if (r.type === VNET) {
      const used = this.subnetsOf(r.id).find((s) => this.subnetInUse(s.id));
      if (used)
        throw badRequest(
          'InUseSubnetCannotBeDeleted',
          `Subnet ${used.name} is in use and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet.`,
        );
    }
  }
}
