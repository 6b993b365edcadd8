import { cidrContains, cidrSize, formatIpv4, parseCidr, parseIpv4 } from '../../core/recovery/ipv4';
import { badRequest } from './armError';
import type { StoredResource } from './armStore';

/**
 * A NIC's private address in its subnet, as ARM gives it: a static one must lie in the subnet,
 * outside Azure's reserved addresses (the first four, the last) and be free; a dynamic one is
 * the address the NIC already had when it is still free, else the lowest free one.
 */
export function assignPrivateIp(a: {
  nicId: string;
  subnet: StoredResource;
  /** The requested static address; undefined when the allocation is dynamic. */
  wanted: string | undefined;
  /** Addresses other NICs of the subnet hold. */
  taken: Set<string>;
  previous: string | undefined;
}): string {
  const { nicId, subnet, wanted, taken, previous } = a;
  const prefix = String(subnet.properties.addressPrefix);
  if (wanted !== undefined) {
    if (parseIpv4(wanted) === undefined || !cidrContains(prefix, wanted))
      throw badRequest(
        'PrivateIPAddressNotInSubnet',
        `IP configuration ${nicId}/ipConfigurations/ipconfig1 references the private IP address ${wanted} which is not in the subnet ${subnet.id}.`,
      );
    const n = parseIpv4(wanted)! - parseCidr(prefix)!.base;
    if (n < 4 || n === cidrSize(prefix) - 1)
      throw badRequest(
        'PrivateIPAddressIsReserved',
        `Private static IP address ${wanted} is reserved by Azure in subnet ${subnet.name}.`,
      );
    if (taken.has(wanted))
      throw badRequest(
        'PrivateIPAddressInUse',
        `IP configuration ${nicId}/ipConfigurations/ipconfig1 is using the private IP address ${wanted} which is already allocated to another resource.`,
      );
    return wanted;
  }
  const free = (n: number) => formatIpv4(parseCidr(prefix)!.base + n);
  let n = 4;
  while (n < cidrSize(prefix) - 1 && taken.has(free(n))) n++;
  if (n >= cidrSize(prefix) - 1)
    throw badRequest('SubnetIsFull', `Subnet ${subnet.name} has no free address.`);
  return previous && cidrContains(prefix, previous) && !taken.has(previous) ? previous : free(n);
}
