import type { StoredResource } from './armStore';

/** At most this many forwarded ports per NIC: each is a listening socket of QEMU's. */
export const MAX_FORWARDED_PORTS = 32;

interface Rule {
  priority: number;
  direction: string;
  access: string;
  protocol: string;
  destinationPortRange?: string;
  destinationPortRanges?: string[];
  sourceAddressPrefix?: string;
}

/** Sources a rule must name to let a caller on the internet in (the local host is "the internet"). */
const fromInternet = (prefix: string | undefined) =>
  prefix === undefined || ['*', 'internet', '0.0.0.0/0', 'any'].includes(prefix.toLowerCase());

function ranges(rule: Rule): [number, number][] {
  const all = [rule.destinationPortRange, ...(rule.destinationPortRanges ?? [])].filter(
    (x): x is string => !!x,
  );
  return all.map((r) => {
    if (r === '*') return [1, 65535];
    const [a, b] = r.split('-').map(Number);
    return [a!, b ?? a!];
  });
}

/** Azure's verdict for one inbound TCP port from the internet through one NSG: first match by priority, else the default DenyAllInBound. */
function allows(nsg: StoredResource, port: number): boolean {
  const rules = ((nsg.properties.securityRules as { properties: Rule }[] | undefined) ?? [])
    .map((r) => r.properties)
    .filter((r) => r.direction === 'Inbound' && (r.protocol === 'Tcp' || r.protocol === '*'))
    .sort((a, b) => a.priority - b.priority);
  for (const r of rules) {
    if (!ranges(r).some(([a, b]) => port >= a && port <= b)) continue;
    if (r.access === 'Deny') return false;
    if (fromInternet(r.sourceAddressPrefix)) return true;
  }
  return false;
}

/**
 * TCP ports a Standard public IP lets in: Standard IPs are closed unless an NSG allows, and when
 * both the subnet and the NIC have one, both must allow (Azure evaluates the subnet's first,
 * then the NIC's). Candidates are the ports the allow rules name; a wide range ('*', 1-65535)
 * contributes its first ports only, up to MAX_FORWARDED_PORTS in all.
 */
export function allowedInboundPorts(nsgs: StoredResource[]): number[] {
  if (nsgs.length === 0) return [];
  const candidates = new Set<number>();
  for (const nsg of nsgs) {
    for (const r of (nsg.properties.securityRules as { properties: Rule }[] | undefined) ?? []) {
      if (r.properties.access !== 'Allow' || r.properties.direction !== 'Inbound') continue;
      for (const [a, b] of ranges(r.properties)) {
        for (let p = a; p <= b && p < a + MAX_FORWARDED_PORTS; p++) candidates.add(p);
      }
    }
  }
  return [...candidates]
    .sort((a, b) => a - b)
    .filter((p) => nsgs.every((n) => allows(n, p)))
    .slice(0, MAX_FORWARDED_PORTS);
}
