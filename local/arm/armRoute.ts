/**
 * ARM's URL grammar, as far as the endpoint serves it:
 *   /subscriptions/{sub}/resourceGroups/{rg}                                   a resource group
 *   /subscriptions/{sub}/resourceGroups/{rg}/resources                         its resources
 *   /subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}             a collection
 *   …/providers/{ns}/{type}/{name}                                             a resource
 *   …/providers/{ns}/{type}/{name}/{childType}[/{childName}]                   subnets
 *   …/providers/{ns}/{type}/{name}/{action}                                    start, instanceView, …
 *   /subscriptions/{sub}/providers/{ns}/locations/{loc}/operations[Results]/{id}  operation status
 */
export type ArmRoute =
  | { kind: 'group'; subscription: string; resourceGroup: string }
  | { kind: 'groupResources'; subscription: string; resourceGroup: string }
  | {
      kind: 'collection';
      subscription: string;
      resourceGroup: string;
      type: string;
      parent?: string;
    }
  | {
      kind: 'resource';
      subscription: string;
      resourceGroup: string;
      type: string;
      name: string;
      parent?: string;
    }
  | {
      kind: 'action';
      subscription: string;
      resourceGroup: string;
      type: string;
      name: string;
      action: string;
    }
  | { kind: 'operation'; subscription: string; operationId: string; result: boolean };

const ACTIONS = new Set([
  'start',
  'powerOff',
  'deallocate',
  'restart',
  'instanceView',
  'retrieveBootDiagnosticsData',
  'beginGetAccess',
  'endGetAccess',
]);

export function parseArmPath(path: string): ArmRoute | undefined {
  const s = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (s[0]?.toLowerCase() !== 'subscriptions' || !s[1]) return undefined;
  const subscription = s[1];
  if (
    s[2]?.toLowerCase() === 'providers' &&
    s[4]?.toLowerCase() === 'locations' &&
    s.length === 8
  ) {
    const which = s[6]!.toLowerCase();
    if (which === 'operations' || which === 'operationresults') {
      return {
        kind: 'operation',
        subscription,
        operationId: s[7]!,
        result: which === 'operationresults',
      };
    }
    return undefined;
  }
  if (s[2]?.toLowerCase() !== 'resourcegroups' || !s[3]) return undefined;
  const resourceGroup = s[3];
  if (s.length === 4) return { kind: 'group', subscription, resourceGroup };
  if (s.length === 5 && s[4]!.toLowerCase() === 'resources') {
    return { kind: 'groupResources', subscription, resourceGroup };
  }
  if (s[4]?.toLowerCase() !== 'providers' || s.length < 7) return undefined;
  const type = `${s[5]}/${s[6]}`;
  if (s.length === 7) return { kind: 'collection', subscription, resourceGroup, type };
  const name = s[7]!;
  if (s.length === 8) return { kind: 'resource', subscription, resourceGroup, type, name };
  if (s.length === 9 && ACTIONS.has(s[8]!)) {
    return { kind: 'action', subscription, resourceGroup, type, name, action: s[8]! };
  }
  const childType = `${type}/${s[8]}`;
  if (s.length === 9)
    return { kind: 'collection', subscription, resourceGroup, type: childType, parent: name };
  if (s.length === 10) {
    return {
      kind: 'resource',
      subscription,
      resourceGroup,
      type: childType,
      name: s[9]!,
      parent: name,
    };
  }
  return undefined;
}

/** The canonical id of a resource (the casing of the request that created it is kept by the store). */
export function resourceId(
  subscription: string,
  resourceGroup: string,
  type: string,
  name: string,
  parent?: string,
): string {
  const base = `/subscriptions/${subscription}/resourceGroups/${resourceGroup}`;
  if (type === 'Microsoft.Resources/resourceGroups') return base;
  if (parent) {
    const [ns, parentType, child] = type.split('/');
    return `${base}/providers/${ns}/${parentType}/${parent}/${child}/${name}`;
  }
  return `${base}/providers/${type}/${name}`;
}

/** Splits an ARM id into its parts (for references inside bodies: subnet ids, disk ids, …). */
export function parseResourceId(
  id: string,
):
  | { subscription: string; resourceGroup: string; type: string; name: string; parent?: string }
  | undefined {
  const r = parseArmPath(id);
  if (r?.kind === 'resource') return r;
  if (r?.kind === 'group')
    return { ...r, type: 'Microsoft.Resources/resourceGroups', name: r.resourceGroup };
  return undefined;
}
