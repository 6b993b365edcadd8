import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isAuthorized, presentedKey, type AuthLevel, type HostKeys } from './hostKeys';
import { HttpRoutes } from './httpRoutes';
import type { PlainHttpResponse } from './httpRpc';
import type { InvokeOnce } from './invoker';
import type { HostFunction, HostLogger } from './plugin';
import { sendProblem } from './problem';
import { BodyTooLargeError, flatHeaders, readBody, sendTooLarge } from './readBody';
import { proxyStreamingInvocation } from './httpStream';

export interface HttpTriggerOptions {
  functions: HostFunction[];
  prefix: string;
  keys: HostKeys;
  maxBodyBytes: number;
  invoke: InvokeOnce;
  log: HostLogger;
  /** Set when the app called `app.setup({ enableHttpStream: true })`: the library's proxy URL. */
  streamUri?: string;
}

/** Serves HTTP-triggered functions under the route prefix; returns false for other paths. */
export function createHttpTrigger(opts: HttpTriggerOptions) {
  const routes = new HttpRoutes(opts.functions);
  const prefix = opts.prefix ? `/${opts.prefix.toLowerCase()}` : '';

  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const lower = url.pathname.toLowerCase();
    if (prefix && lower !== prefix && !lower.startsWith(`${prefix}/`)) return false;
    const path = url.pathname.slice(prefix.length);
    const found = routes.match(req.method ?? 'GET', path);
    if (found.kind === 'not-found') {
      sendProblem(res, 404, `No function serves ${req.method} ${url.pathname}.`);
      return true;
    }
    if (found.kind === 'method-not-allowed') {
      sendProblem(res, 405, `${req.method} is not allowed here.`, {
        allow: found.allow.join(', '),
      });
      return true;
    }
    const { fn, params } = found;
    const level = String(fn.trigger.authLevel ?? 'function').toLowerCase() as AuthLevel;
    if (!isAuthorized(level, presentedKey(req, url), opts.keys, fn.name)) {
      req.resume();
      sendProblem(
        res,
        401,
        'A valid function key is required (x-functions-key header or code query).',
      );
      return true;
    }
    const invocationId = randomUUID();
    const traceParent = req.headers.traceparent as string | undefined;
    const headers = flatHeaders(req);
    const fullUrl = `http://${req.headers.host ?? '127.0.0.1'}${req.url}`;
    const started = Date.now();
    try {
      if (opts.streamUri) {
        await proxyStreamingInvocation({ ...opts, streamUri: opts.streamUri }, fn, req, res, {
          invocationId,
          traceParent,
          params,
          headers,
          url: fullUrl,
        });
      } else {
        const body = await readBody(req, opts.maxBodyBytes);
        const result = await opts.invoke(
          fn,
          { triggerValue: { method: req.method ?? 'GET', url: fullUrl, headers, params, body } },
          { invocationId, traceParent },
        );
        writeResponse(
          res,
          result.returnValue as PlainHttpResponse | undefined,
          req.method === 'HEAD',
        );
      }
      opts.log.info(`Executed '${fn.name}' (${res.statusCode}, ${Date.now() - started} ms)`, {
        invocationId,
      });
    } catch (e) {
      if (e instanceof BodyTooLargeError) {
        sendTooLarge(req, res, e);
        return true;
      }
      opts.log.error(`Function '${fn.name}' failed: ${(e as Error)?.stack ?? String(e)}`, {
        invocationId,
      });
      sendProblem(res, 500, `The function '${fn.name}' failed (invocation ${invocationId}).`);
    }
    return true;
  };
}

export function writeResponse(
  res: ServerResponse,
  r: PlainHttpResponse | undefined,
  head: boolean,
): void {
  if (!r) {
    res.writeHead(204).end();
    return;
  }
  for (const [k, v] of Object.entries(r.headers)) {
    if (!/^(content-length|transfer-encoding|connection)$/i.test(k)) res.setHeader(k, v);
  }
  if (r.cookies.length) res.setHeader('set-cookie', r.cookies);
  const noBody = head || r.status === 204 || r.status === 304;
  if (!noBody) res.setHeader('content-length', r.body.length);
  res.writeHead(r.status);
  res.end(noBody ? undefined : r.body);
}
