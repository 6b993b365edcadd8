import { randomBytes } from 'node:crypto';
import { cidrContains, parseCidr, parseIpv4 } from '../../core/recovery/ipv4';
import type { ArmContext, ArmReply, ArmRequest } from './armContext';
import { badRequest, notFound } from './armError';
import { checkLocation, deleteReply, idOfRequest, props, putReply, tagsOf } from './armJson';
import type { StoredResource } from './armStore';

/**
 * Microsoft.Network: virtual networks and subnets, NSGs, public IPs, NICs. Their creates are
 * quick in Azure too, yet still operations (the clients poll them), so they answer with
 * operation URLs and complete at once. ARM's refusals are kept: prefixes that do not fit,
 * addresses outside their subnet or taken, and deleting what is still in use.
 */
const VNET = 'Microsoft.Network/virtualNetworks';
const SUBNET = 'Microsoft.Network/virtualNetworks/subnets';
const NSG = 'Microsoft.Network/networkSecurityGroups';
const PIP = 'Microsoft.Network/publicIPAddresses';
const NIC = 'Microsoft.Network/networkInterfaces';

const ipToString = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
const size = (cidr: string) => 2 ** (32 - parseCidr(cidr)!.bits);

function checkPrefix(p: unknown, what: string): string {
  if (typeof p !== 'string' || !parseCidr(p))
    throw badRequest('InvalidAddressPrefixFormat', `${what} '${String(p)}' is not a valid CIDR.`);
  const c = parseCidr(p)!;
  if (ipToString(c.base) !== p.split('/')[0]) {
    throw badRequest(
      'InvalidCIDRNotation',
      `The address prefix ${p} in resource ${what} has an invalid CIDR notation. For the given prefix length, the address prefix should be ${ipToString(c.base)}/${c.bits}.`,
    );
  }
  return p;
}

const overlaps = (a: string, b: string) => {
  const x = parseCidr(a)!;
  const y = parseCidr(b)!;
  const bits = Math.min(x.bits, y.bits);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (x.base & mask) >>> 0 === (y.base & mask) >>> 0;
};

export class NetworkProvider {
  constructor(private readonly ctx: ArmContext) {}

  private done(req: ArmRequest, id: string): Record<string, string> {
    return this.ctx.begin(req, `${req.route.type}`, id, async () => {
      this.ctx.provisioned(id, 'Succeeded');
      return undefined;
    });
  }

  private subnetsOf(vnetId: string): StoredResource[] {
    const prefix = `${vnetId}/subnets/`.toLowerCase();
    return this.ctx.store.list((r) => r.type === SUBNET && r.id.toLowerCase().startsWith(prefix));
  }

  private subnetInUse(subnetId: string): boolean {
    return this.ctx.store
      .list((r) => r.type === NIC)
      .some((n) => this.ctx.same(nicSubnet(n), subnetId));
  }

  /** GET of a vnet assembles its subnets (stored as child resources). */
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

  put(req: ArmRequest): ArmReply {
    this.ctx.requireGroup(req.route.subscription, req.route.resourceGroup);
    const id = idOfRequest(req);
    const existing = this.ctx.store.get(id);
    const build = {
      [VNET]: () => this.vnet(req, id),
      [SUBNET]: () => this.subnet(req, id, req.body),
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

  private vnet(req: ArmRequest, id: string): StoredResource {
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
      this.subnet(req, `${id}/subnets/${s.name}`, s as Record<string, unknown>, prefixes);
    return r;
  }

  private subnet(
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
      !prefixes.some((v) => overlaps(v, prefix) && parseCidr(v)!.bits <= parseCidr(prefix)!.bits)
    ) {
      throw badRequest(
        'NetcfgSubnetRangeOutsideVnet',
        `Subnet '${name}' is not valid because its IP address range is outside the IP address range of virtual network.`,
      );
    }
    const clash = this.subnetsOf(vnetId).find(
      (s) => !this.ctx.same(s.id, id) && overlaps(String(s.properties.addressPrefix), prefix),
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

  private nsg(req: ArmRequest, id: string, existing?: StoredResource): StoredResource {
    const location = checkLocation(this.ctx, req.body);
    const rules = (
      (props(req.body).securityRules as
        { name: string; properties: Record<string, unknown> }[] | undefined) ?? []
    ).map((rule) => {
      const rp = rule.properties ?? {};
      const priority = Number(rp.priority);
      if (!Number.isInteger(priority) || priority < 100 || priority > 4096)
        throw badRequest(
          'SecurityRuleInvalidPriority',
          `Security rule ${rule.name} has invalid priority ${String(rp.priority)}. Value provided: ${String(rp.priority)} Allowed range 100-4096.`,
        );
      for (const [f, ok] of [
        ['direction', ['Inbound', 'Outbound']],
        ['access', ['Allow', 'Deny']],
        ['protocol', ['Tcp', 'Udp', 'Icmp', '*']],
      ] as const) {
        if (!(ok as readonly string[]).includes(String(rp[f])))
          throw badRequest(
            'InvalidRequestFormat',
            `Security rule ${rule.name}: ${f} '${String(rp[f])}' is not one of ${ok.join(', ')}.`,
          );
      }
      return {
        id: `${id}/securityRules/${rule.name}`,
        name: rule.name,
        properties: {
          sourcePortRange: '*',
          destinationAddressPrefix: '*',
          ...rp,
          provisioningState: 'Succeeded',
        } as Record<string, unknown>,
      };
    });
    const seen = new Set<string>();
    for (const r of rules) {
      const k = `${String(r.properties.direction)}:${String(r.properties.priority)}`;
      if (seen.has(k))
        throw badRequest(
          'SecurityRuleConflict',
          `Security rules of ${req.route.name} share priority ${String(r.properties.priority)} in direction ${String(r.properties.direction)}.`,
        );
      seen.add(k);
    }
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
    const prefix = String(subnet.properties.addressPrefix);
    const taken = new Set(
      this.ctx.store
        .list(
          (r) =>
            r.type === NIC && !this.ctx.same(r.id, id) && this.ctx.same(nicSubnet(r), subnet.id),
        )
        .map(nicIp),
    );
    let ip: string;
    const wanted = cp.privateIPAddress as string | undefined;
    if (wanted !== undefined && cp.privateIPAllocationMethod !== 'Dynamic') {
      if (parseIpv4(wanted) === undefined || !cidrContains(prefix, wanted))
        throw badRequest(
          'PrivateIPAddressNotInSubnet',
          `IP configuration ${id}/ipConfigurations/ipconfig1 references the private IP address ${wanted} which is not in the subnet ${subnet.id}.`,
        );
      const n = parseIpv4(wanted)! - parseCidr(prefix)!.base;
      if (n < 4 || n === size(prefix) - 1)
        throw badRequest(
          'PrivateIPAddressIsReserved',
          `Private static IP address ${wanted} is reserved by Azure in subnet ${subnet.name}.`,
        );
      if (taken.has(wanted))
        throw badRequest(
          'PrivateIPAddressInUse',
          `IP configuration ${id}/ipConfigurations/ipconfig1 is using the private IP address ${wanted} which is already allocated to another resource.`,
        );
      ip = wanted;
    } else {
      const previous = existing ? nicIp(existing) : undefined;
      const free = (n: number) => ipToString(parseCidr(prefix)!.base + n);
      let n = 4;
      while (n < size(prefix) - 1 && taken.has(free(n))) n++;
      if (n >= size(prefix) - 1)
        throw badRequest('SubnetIsFull', `Subnet ${subnet.name} has no free address.`);
      ip = previous && cidrContains(prefix, previous) && !taken.has(previous) ? previous : free(n);
    }
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
    const oldPip = existing
      ? (
          (existing.properties.ipConfigurations as { properties: Record<string, unknown> }[])[0]!
            .properties.publicIPAddress as { id?: string } | undefined
        )?.id
      : undefined;
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
              privateIPAllocationMethod:
                wanted !== undefined && cp.privateIPAllocationMethod !== 'Dynamic'
                  ? 'Static'
                  : 'Dynamic',
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
    if (r.type === NSG) {
      const user = this.ctx.store.list(
        (x) =>
          (x.type === NIC || x.type === SUBNET) &&
          this.ctx.same(
            (x.properties.networkSecurityGroup as { id?: string } | undefined)?.id,
            r.id,
          ),
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
          const pip = (
            (r.properties.ipConfigurations as { properties: Record<string, unknown> }[])[0]!
              .properties.publicIPAddress as { id?: string } | undefined
          )?.id;
          if (pip) this.releasePip(pip);
        }
        if (r.type === VNET) for (const s of this.subnetsOf(r.id)) this.ctx.store.delete(s.id);
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
    const pipId = (
      (nic.properties.ipConfigurations as { properties: Record<string, unknown> }[])[0]!.properties
        .publicIPAddress as { id?: string } | undefined
    )?.id;
    const pip = pipId ? this.ctx.store.get(pipId) : undefined;
    const nsgIds = [
      (subnet?.properties.networkSecurityGroup as { id?: string } | undefined)?.id,
      (nic.properties.networkSecurityGroup as { id?: string } | undefined)?.id,
    ].filter((x): x is string => !!x);
    return {
      nic,
      privateIp: nicIp(nic),
      subnetPrefix: String(subnet?.properties.addressPrefix ?? '10.0.0.0/24'),
      ...(pip?.local?.loopbackIp ? { publicIp: pip.local.loopbackIp } : {}),
      nsgIds,
    };
  }
}

function nicSubnet(nic: StoredResource): string | undefined {
  return (
    nic.properties.ipConfigurations as { properties: { subnet?: { id?: string } } }[] | undefined
  )?.[0]?.properties.subnet?.id;
}

function nicIp(nic: StoredResource): string {
  return String(
    (nic.properties.ipConfigurations as { properties: { privateIPAddress: string } }[])[0]!
      .properties.privateIPAddress,
  );
}

export const networkTypes = [VNET, SUBNET, NSG, PIP, NIC];
