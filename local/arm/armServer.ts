import { timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkApiVersion } from './apiVersions';
import type { ArmContext, ArmReply, ArmRequest } from './armContext';
import { armDispatch, type ArmProviders } from './armDispatch';
import { ArmError, badRequest } from './armError';
import { readJson, send } from './armHttpIo';
import { parseArmPath, type ArmRoute } from './armRoute';
import { serveDiskAccess } from './diskAccess';
import type { Faults, RecordedCall } from './faults';

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
      const reply = await armDispatch(ctx, p, route, armReq);
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
