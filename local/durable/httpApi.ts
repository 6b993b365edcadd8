import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { managementUrls, WEBHOOK_PREFIX, type ApiConfig } from './apiUrls';
import { historyForApi, statusBody } from './apiViews';
import { HttpError, type DurableBackend } from './durableBackend';
import { TERMINAL } from './hubRows';

/** The durabletask extension's system key, derived from the master key so it can be given out alone. */
export function deriveSystemKey(masterKey: string): string {
  return createHmac('sha256', masterKey).update('durabletask_extension').digest('base64url');
}

function keyMatches(presented: string | undefined, keys: (string | undefined)[]): boolean {
  if (!presented) return false;
  const p = Buffer.from(presented);
  return keys.some((k) => {
    if (!k) return false;
    const b = Buffer.from(k);
    return b.length === p.length && timingSafeEqual(b, p);
  });
}

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  res
    .writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
    .end(text);
}

async function readBody(req: IncomingMessage, limit = 16 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new HttpError(413, 'Request body too large.');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Validates a JSON body; an empty body means "no input". */
function jsonBody(text: string): string | undefined {
  if (!text.trim()) return undefined;
  try {
    JSON.parse(text);
  } catch {
    throw new HttpError(400, 'The request body is not valid JSON.');
  }
  return text;
}

/** Serves the Durable Functions HTTP API (webhooks and the client's rpc base URL). */
export function createDurableHttpHandler(backend: DurableBackend, cfg: ApiConfig) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      await handle(req, res);
    } catch (e) {
      if (e instanceof HttpError) send(res, e.status, { Message: e.message });
      else
        send(res, 500, {
          Message: 'The durable task backend failed to process the request.',
          ExceptionMessage: (e as Error)?.message,
        });
    }
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const at = url.pathname.indexOf(WEBHOOK_PREFIX);
    let parts = url.pathname
      .slice(at + WEBHOOK_PREFIX.length)
      .split('/')
      .filter((p) => p !== '')
      .map((p) => decodeURIComponent(p));
    if (parts[0] === 'rpc') {
      if (!keyMatches(parts[1], [cfg.rpcToken])) throw new HttpError(401, 'Unauthorized.');
      parts = parts.slice(2);
    } else if (cfg.systemKey || cfg.extraKeys.length) {
      const presented =
        url.searchParams.get('code') ?? (req.headers['x-functions-key'] as string | undefined);
      if (!keyMatches(presented, [cfg.systemKey, ...cfg.extraKeys])) {
        req.resume();
        throw new HttpError(401, 'A valid system key is required (code=...).');
      }
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const q = url.searchParams;
    const flag = (name: string, dflt: boolean) => {
      const v = q.get(name);
      return v === null ? dflt : v.toLowerCase() === 'true';
    };

    if (parts[0] === 'orchestrators' && parts.length >= 2 && parts.length <= 3) {
      if (method !== 'POST') throw new HttpError(405, 'Use POST to start an orchestration.');
      const input = jsonBody(await readBody(req));
      const id = await backend.startNew(parts[1]!, parts[2], input);
      const links = managementUrls(cfg, id);
      send(res, 202, links, { Location: links.statusQueryGetUri!, 'Retry-After': '10' });
      return;
    }
    if (parts[0] === 'instances' && parts.length === 1) {
      const from = q.get('createdTimeFrom');
      const to = q.get('createdTimeTo');
      const statuses = q.get('runtimeStatus')?.split(',').filter(Boolean);
      const prefix = q.get('instanceIdPrefix');
      const all = (await backend.store.listInstances()).filter(
        (i) =>
          (!from || i.createdTime >= new Date(from).toISOString()) &&
          (!to || i.createdTime <= new Date(to).toISOString()) &&
          (!statuses?.length || statuses.some((s) => s.toLowerCase() === i.status.toLowerCase())) &&
          (!prefix || i.instanceId.startsWith(prefix)),
      );
      all.sort((a, b) =>
        a.createdTime < b.createdTime ? -1 : a.createdTime > b.createdTime ? 1 : 0,
      );
      if (method === 'DELETE') {
        let deleted = 0;
        for (const i of all.filter((x) => TERMINAL.has(x.status)))
          deleted += await backend.purge(i.instanceId);
        if (!deleted) throw new HttpError(404, 'No instances matched the filter.');
        send(res, 200, { instancesDeleted: deleted });
        return;
      }
      if (method !== 'GET') throw new HttpError(405, 'Method not allowed.');
      const top = Number(q.get('top') ?? 0);
      const token = req.headers['x-ms-continuation-token'];
      const start =
        typeof token === 'string' && token
          ? Number(Buffer.from(token, 'base64').toString('utf8')) || 0
          : 0;
      const page = top > 0 ? all.slice(start, start + top) : all.slice(start);
      const headers: Record<string, string> = {};
      if (top > 0 && start + top < all.length)
        headers['x-ms-continuation-token'] = Buffer.from(String(start + top)).toString('base64');
      send(
        res,
        200,
        page.map((i) => statusBody(i, flag('showInput', false))),
        headers,
      );
      return;
    }
    if (parts[0] === 'instances' && parts.length >= 2) {
      const id = parts[1]!;
      const action = parts[2];
      if (!action && method === 'GET') {
        const inst = await backend.getInstance(id);
        if (!inst) {
          send(res, 404, undefined);
          return;
        }
        const body = statusBody(inst, flag('showInput', true));
        if (flag('showHistory', false)) {
          const events = historyForApi(
            await backend.getHistory(inst),
            flag('showHistoryOutput', false),
          );
          body.historyEvents = events;
          body.history = events;
        }
        const links = managementUrls(cfg, id);
        if (inst.status === 'Completed') send(res, 200, body);
        else if (inst.status === 'Failed' || inst.status === 'Terminated') send(res, 400, body);
        else send(res, 202, body, { Location: links.statusQueryGetUri!, 'Retry-After': '10' });
        return;
      }
      if (!action && method === 'DELETE') {
        const n = await backend.purge(id);
        if (!n) throw new HttpError(404, `No instance with ID '${id}' found.`);
        send(res, 200, { instancesDeleted: n });
        return;
      }
      if (action === 'raiseEvent' && parts[3] && method === 'POST') {
        const input = jsonBody(await readBody(req));
        await backend.raiseEvent(id, parts[3], input);
        send(res, 202, undefined);
        return;
      }
      if (action === 'terminate' && method === 'POST') {
        req.resume();
        await backend.terminate(id, q.get('reason') ?? '');
        send(res, 202, undefined);
        return;
      }
      if (action && ['rewind', 'suspend', 'resume', 'restart'].includes(action)) {
        req.resume();
        throw new HttpError(501, `'${action}' is not implemented by the local durable backend.`);
      }
    }
    if (parts[0] === 'entities') {
      req.resume();
      throw new HttpError(
        501,
        'Durable entities are not implemented by the local durable backend.',
      );
    }
    req.resume();
    throw new HttpError(404, `No durable task API at ${url.pathname}.`);
  }
}
