import { timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ArmContext, ArmReply, ArmRequest } from './armContext';
import { ArmError, badRequest } from './armError';
import { armJson } from './armJson';
import { parseArmPath, resourceId, type ArmRoute } from './armRoute';
import { serveDiskAccess } from './diskAccess';
import type { DiskProvider } from './diskProvider';
import type { Faults, RecordedCall } from './faults';
import type { GroupProvider } from './groupProvider';
import type { NetworkProvider } from './networkProvider';
import type { VmProvider } from './vmProvider';

/** The api-versions the pinned clients send (arm-compute 24.1.0, arm-network 36.0.0) and the one for groups. */
const API_VERSIONS: Record<string, string[]> = {
  'microsoft.compute/disks': ['2025-01-02'],
  'microsoft.compute/snapshots': ['2025-01-02'],
  'microsoft.compute/virtualmachines': ['2026-03-01'],
  'microsoft.network': ['2025-05-01'],
  'microsoft.resources': ['2021-04-01'],
};
const MAX_BODY = 4 * 1024 * 1024;

export interface ArmProviders {
  groups: GroupProvider;
  network: NetworkProvider;
  disks: DiskProvider;
  vms: VmProvider;
}

/**
 * The HTTPS front of the local ARM endpoint: bearer authentication, api-version checks, routing
 * to the resource providers, operation status URLs, the access URLs of disks and serial logs,
 * and the test-only admin routes (faults, recorded calls).
 */
export function armHandler(ctx: ArmContext, p: ArmProviders, faults: Faults, token: string) {
  const expected = Buffer.from(`Bearer ${token}`);
  const authorized = (req: IncomingMessage) => {
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === expected.length && timingSafeEqual(got, expected);
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', ctx.baseUrl || 'https://127.0.0.1');
    let call: RecordedCall | undefined;
    const answer = (reply: ArmReply) => {
      if (call) call.status = reply.status;
      send(res, reply);
    };
    try {
      if (url.pathname.startsWith('/haven/disk-access/')) {
        const r = p.disks.byAccessToken(url.searchParams.get('sig') ?? '');
        if (!r)
          throw new ArmError(
            403,
            'AuthenticationFailed',
            'The access URL is not valid or has expired.',
          );
        return serveDiskAccess(req, res, r, (t) => p.disks.byAccessToken(t));
      }
      if (url.pathname.startsWith('/haven/serial-log/')) return serial(ctx, url, res);
      if (!req.headers.authorization) {
        throw new ArmError(
          401,
          'AuthenticationFailed',
          "Authentication failed. The 'Authorization' header is missing.",
        );
      }
      if (!authorized(req)) {
        throw new ArmError(401, 'InvalidAuthenticationToken', 'The access token is invalid.');
      }
      const sent = await readJson(req);
      const body = sent ?? {};
      if (url.pathname.startsWith('/haven/admin/'))
        return send(res, admin(faults, req.method ?? 'GET', url.pathname, body));
      const route = parseArmPath(url.pathname);
      if (!route)
        throw new ArmError(
          404,
          'InvalidResourceType',
          `The path '${url.pathname}' is not served by the local ARM endpoint.`,
        );
      if (route.subscription.toLowerCase() !== ctx.opts.subscriptionId.toLowerCase())
        throw new ArmError(
          404,
          'SubscriptionNotFound',
          `The subscription '${route.subscription}' could not be found.`,
        );
      if (route.kind === 'operation') return send(res, operation(ctx, route));
      const type =
        route.kind === 'group' || route.kind === 'groupResources'
          ? 'Microsoft.Resources/resourceGroups'
          : route.type;
      checkApiVersion(type, url.searchParams.get('api-version'), ctx.opts.location);
      const action = route.kind === 'action' ? route.action : undefined;
      const op = `${req.method} ${type}${action ? `/${action}` : ''}`;
      const recorded = faults.onCall(req.method ?? 'GET', url, op, sent);
      call = recorded.call;
      const fault = recorded.fault;
      if (fault?.mode === 'http') {
        throw new ArmError(
          fault.status ?? 500,
          fault.code ?? 'InternalServerError',
          fault.message ?? 'Injected failure.',
        );
      }
      const armReq: ArmRequest = {
        method: req.method ?? 'GET',
        route: routeParts(route),
        query: url.searchParams,
        body,
        apiVersion: url.searchParams.get('api-version')!,
        ...(fault ? { fault } : {}),
      };
      const reply = await dispatch(ctx, p, route, armReq);
      // A slow call that started no operation (a GET, a synchronous PUT) is slow to answer.
      if (fault?.mode === 'slow' && !reply.headers?.['azure-asyncoperation'])
        await new Promise((r) => setTimeout(r, fault.delayMs ?? 0));
      return answer(reply);
    } catch (e) {
      const err =
        e instanceof ArmError
          ? e
          : new ArmError(500, 'InternalServerError', (e as Error)?.message ?? String(e));
      answer({ status: err.status, body: err.body() });
    }
  };
}

function routeParts(route: Exclude<ArmRoute, { kind: 'operation' }>): ArmRequest['route'] {
  if (route.kind === 'group' || route.kind === 'groupResources') {
    return {
      subscription: route.subscription,
      resourceGroup: route.resourceGroup,
      type: 'Microsoft.Resources/resourceGroups',
      name: route.resourceGroup,
    };
  }
  return {
    subscription: route.subscription,
    resourceGroup: route.resourceGroup,
    type: route.type,
    name: 'name' in route ? route.name : '',
    ...('parent' in route && route.parent ? { parent: route.parent } : {}),
  };
}

function checkApiVersion(type: string, v: string | null, location: string): void {
  if (!v)
    throw badRequest(
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    );
  const t = type.toLowerCase();
  const allowed = API_VERSIONS[t] ?? API_VERSIONS[t.split('/')[0]!] ?? [];
  if (allowed.includes(v)) return;
  // ARM itself answers for resource groups; a resource provider for the types it serves.
  if (t.startsWith('microsoft.resources/'))
    throw badRequest(
      'InvalidApiVersionParameter',
      `The api-version '${v}' is invalid. The supported versions are '${allowed.join(',')}'.`,
    );
  throw badRequest(
    'NoRegisteredProviderFound',
    `No registered resource provider found for location '${location}' and API version '${v}' for type '${type.split('/').slice(1).join('/')}'. The supported api-versions are '${allowed.join(', ')}'.`,
  );
}

async function dispatch(
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

function operation(ctx: ArmContext, route: Extract<ArmRoute, { kind: 'operation' }>): ArmReply {
  const op = ctx.store.operation(route.operationId);
  if (!op)
    throw new ArmError(404, 'OperationNotFound', `Operation '${route.operationId}' was not found.`);
  if (route.result) {
    if (op.status === 'InProgress') return { status: 202 };
    if (op.status === 'Failed') return { status: 200, body: { status: 'Failed', error: op.error } };
    return op.result === undefined ? { status: 200 } : { status: 200, body: op.result };
  }
  return {
    status: 200,
    body: {
      name: op.id,
      status: op.status,
      startTime: op.startedAt,
      ...(op.endedAt ? { endTime: op.endedAt } : {}),
      ...(op.error ? { error: op.error } : {}),
    },
  };
}

function admin(
  faults: Faults,
  method: string,
  path: string,
  body: Record<string, unknown>,
): ArmReply {
  if (path === '/haven/admin/faults' && method === 'POST') {
    try {
      faults.add(body as never);
    } catch (e) {
      throw badRequest('InvalidFault', (e as Error).message);
    }
    return { status: 201 };
  }
  if (path === '/haven/admin/faults' && method === 'DELETE') {
    faults.clear();
    return { status: 204 };
  }
  if (path === '/haven/admin/calls' && method === 'GET')
    return { status: 200, body: { value: faults.calls } };
  throw new ArmError(404, 'NotFound', `No admin route ${method} ${path}.`);
}

function serial(ctx: ArmContext, url: URL, res: ServerResponse): void {
  const sig = url.searchParams.get('sig') ?? '';
  const vm = ctx.store.list(
    (r) => r.type === 'Microsoft.Compute/virtualMachines' && !!sig && r.local?.accessToken === sig,
  )[0];
  if (!vm) throw new ArmError(403, 'AuthenticationFailed', 'The serial log URL is not valid.');
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  if (!vm.local?.file || !existsSync(vm.local.file)) return void res.end();
  createReadStream(vm.local.file).pipe(res);
}

/** The request's JSON object; undefined when it has no body. */
async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY)
      throw new ArmError(413, 'RequestEntityTooLarge', 'The request body is too large.');
    chunks.push(c as Buffer);
  }
  if (size === 0) return undefined;
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw badRequest(
      'InvalidRequestContent',
      'The request content was invalid and could not be deserialized.',
    );
  }
}

function send(res: ServerResponse, reply: ArmReply): void {
  const headers: Record<string, string> = {
    'x-ms-request-id': cryptoId(),
    ...(reply.headers ?? {}),
  };
  if (reply.body === undefined) {
    res.writeHead(reply.status, headers);
    res.end();
    return;
  }
  const body = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}

let counter = 0;
const cryptoId = () => `local-${process.pid}-${++counter}`;
