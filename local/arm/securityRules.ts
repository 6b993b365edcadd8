import { badRequest } from './armError';

export interface SecurityRule {
  id: string;
  name: string;
  properties: Record<string, unknown>;
}

/**
 * An NSG body's security rules with ARM's refusals: priorities in 100–4096 and unique per
 * direction, known directions, accesses and protocols.
 */
export function parseSecurityRules(
  nsgId: string,
  nsgName: string,
  properties: Record<string, unknown>,
): SecurityRule[] {
  const rules = (
    (properties.securityRules as
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
      id: `${nsgId}/securityRules/${rule.name}`,
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
        `Security rules of ${nsgName} share priority ${String(r.properties.priority)} in direction ${String(r.properties.direction)}.`,
      );
    seen.add(k);
  }
  return rules;
}
