import type { ArmContext, ArmReply, ArmRequest } from './armContext';
import { ArmError } from './armError';
import { armJson } from './armJson';
import { resourceId, type ArmRoute } from './armRoute';
import type { DiskProvider } from './diskProvider';
import type { GroupProvider } from './groupProvider';
import type { NetworkProvider } from './networkProvider';
import type { VmProvider } from './vmProvider';

export interface ArmProviders {
  groups: GroupProvider;
  network: NetworkProvider;
  disks: DiskProvider;
  vms: VmProvider;
}

/**
 * Routes one authenticated, version-checked request to its resource provider: groups, lists of
 * a type, actions (VM power, disk access), and the PUT/DELETE/GET of one resource.
 */
export async function armDispatch(
  ctx: ArmContext,
  p: ArmProviders,
  route: Exclude<ArmRoute, { kind: 'operation' }>,
  req: ArmRequest,
): Promise<ArmReply> {
  const provider = (type: string) => {
    const t = type.toLowerCase();
    if (t.startsWith('microsoft.network/')) return p.network;
    if (t === 'microsoft.compute/virtualmachines') return p.vms;
    if (t === 'microsoft.compute/disks' || t === 'microsoft.compute/snapshots') return p.disks;
    throw new ArmError(
      400,
      'InvalidResourceType',
      `The resource type '${type}' is not served by the local ARM endpoint.`,
    );
  };
  if (route.kind === 'group') {
    if (req.method === 'PUT') return p.groups.put(req);
    if (req.method === 'DELETE') return p.groups.delete(req);
    return p.groups.get(req);
  }
  if (route.kind === 'groupResources') return p.groups.resources(req);
  if (route.kind === 'collection') {
    ctx.requireGroup(route.subscription, route.resourceGroup);
    provider(route.type);
    const prefix = resourceId(
      route.subscription,
      route.resourceGroup,
      route.type,
      '',
      route.parent,
    ).toLowerCase();
    const value = ctx.store
      .list(
        (r) =>
          r.type.toLowerCase() === route.type.toLowerCase() &&
          r.id.toLowerCase().startsWith(prefix),
      )
      .map((r) => viewOf(p, r));
    return { status: 200, body: { value } };
  }
  if (route.kind === 'action') {
    const t = route.type.toLowerCase();
    if (t === 'microsoft.compute/virtualmachines') return p.vms.action(req, route.action);
    const r = ctx.store.get(
      resourceId(route.subscription, route.resourceGroup, route.type, route.name),
    );
    if (!r)
      throw new ArmError(
        404,
        'ResourceNotFound',
        `The Resource '${route.type}/${route.name}' under resource group '${route.resourceGroup}' was not found.`,
      );
    if (route.action === 'beginGetAccess') return p.disks.grantAccess(req, r);
    if (route.action === 'endGetAccess') return p.disks.revokeAccess(req, r);
    throw new ArmError(
      400,
      'InvalidResourceType',
      `Action '${route.action}' is not served for ${route.type}.`,
    );
  }
  const prov = provider(route.type);
  if (req.method === 'PUT') return prov.put(req);
  if (req.method === 'DELETE') return prov.delete(req);
  if (req.method !== 'GET')
    throw new ArmError(405, 'MethodNotAllowed', `${req.method} is not allowed here.`);
  ctx.requireGroup(route.subscription, route.resourceGroup);
  const r = ctx.store.get(
    resourceId(route.subscription, route.resourceGroup, route.type, route.name, route.parent),
  );
  if (!r)
    throw new ArmError(
      404,
      'ResourceNotFound',
      `The Resource '${route.type}/${route.name}' under resource group '${route.resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  return { status: 200, body: viewOf(p, r) };
}

function viewOf(p: ArmProviders, r: Parameters<typeof armJson>[0]) {
  return armJson(p.network.view(r));
}
