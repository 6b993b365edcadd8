import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HostFunction, HostContext } from './plugin';
import { sendProblem } from './problem';
import { BodyTooLargeError, readBody, sendTooLarge } from './readBody';

const ADMIN_BODY_LIMIT = 10 * 1024 * 1024;

const json = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
};

/**
 * The slice of the Functions admin API that is useful locally (master key checked by the caller):
 * host status, the function list, and `POST /admin/functions/{name}` to run a non-HTTP function
 * with `{ "input": ... }` as the real host allows.
 */
export function createAdminRoutes(functions: () => HostFunction[], ctx: () => HostContext) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const path = url.pathname.replace(/\/+$/, '');
    if (req.method === 'GET' && path === '/admin/host/status') {
      json(res, 200, {
        state: 'Running',
        version: '4.0.0-haven-local',
        functions: functions().length,
      });
      return true;
    }
    if (req.method === 'GET' && path === '/admin/functions') {
      json(
        res,
        200,
        functions().map((f) => ({ name: f.name, triggerType: f.triggerType, trigger: f.trigger })),
      );
      return true;
    }
    const m = /^\/admin\/functions\/([^/]+)$/.exec(path);
    if (req.method === 'POST' && m) {
      const name = decodeURIComponent(m[1]!);
      const fn = functions().find((f) => f.name.toLowerCase() === name.toLowerCase());
      if (!fn) {
        sendProblem(res, 404, `No function named '${name}'.`);
        return true;
      }
      let input: unknown;
      try {
        const raw = (await readBody(req, ADMIN_BODY_LIMIT)).toString('utf8');
        input = raw ? (JSON.parse(raw) as { input?: unknown }).input : undefined;
      } catch (e) {
        // Refusals of the caller's body are the caller's (400, 413), not a host failure (500).
        if (e instanceof BodyTooLargeError) {
          sendTooLarge(req, res, e);
          return true;
        }
        if (e instanceof SyntaxError) {
          sendProblem(res, 400, 'The body is not valid JSON.');
          return true;
        }
        throw e;
      }
      const triggerValue = /^timertrigger$/i.test(fn.triggerType)
        ? { Schedule: { AdjustForDST: true }, ScheduleStatus: null, IsPastDue: false }
        : input;
      ctx()
        .invoke(fn.name, { triggerValue })
        .catch(() => undefined);
      res.writeHead(202).end();
      return true;
    }
    return false;
  };
}
