import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import type { InvokeOnce } from './invoker';
import type { HostFunction } from './plugin';
import { BodyTooLargeError } from './readBody';

interface StreamOpts {
  streamUri: string;
  maxBodyBytes: number;
  invoke: InvokeOnce;
}

interface RequestInfo {
  invocationId: string;
  traceParent?: string;
  params: Record<string, string>;
  headers: Record<string, string>;
  url: string;
}

/**
 * HTTP streaming (`app.setup({ enableHttpStream: true })`): like the real host, the request is
 * forwarded to the library's own proxy server tagged with `x-ms-invocation-id`, while the
 * invocation runs; the library answers on that proxied connection, which is piped back.
 */
export async function proxyStreamingInvocation(
  opts: StreamOpts,
  fn: HostFunction,
  req: IncomingMessage,
  res: ServerResponse,
  info: RequestInfo,
): Promise<void> {
  if (Number(req.headers['content-length'] ?? NaN) > opts.maxBodyBytes) {
    throw new BodyTooLargeError(opts.maxBodyBytes);
  }
  const method = req.method ?? 'GET';
  let responded = false;
  let failure: unknown;
  const answered = new Promise<void>((resolve) => {
    res.once('close', resolve);
    res.once('finish', resolve);
  });
  const proxyReq = request(new URL(req.url ?? '/', opts.streamUri), {
    method,
    headers: {
      ...info.headers,
      'x-ms-invocation-id': info.invocationId,
      'x-forwarded-host': req.headers.host ?? '127.0.0.1',
      'x-forwarded-proto': 'http',
    },
  });
  proxyReq.on('response', (pres) => {
    responded = true;
    const headers = { ...pres.headers };
    delete headers['x-ms-invocation-id'];
    res.writeHead(pres.statusCode ?? 200, headers);
    pres.pipe(res);
  });
  proxyReq.on('error', (e) => (failure ??= e));
  let size = 0;
  const limiter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > opts.maxBodyBytes) {
        failure = new BodyTooLargeError(opts.maxBodyBytes);
        cb(failure as Error);
        return;
      }
      cb(null, chunk);
    },
  });
  limiter.on('error', () => proxyReq.destroy());
  req.pipe(limiter).pipe(proxyReq);
  try {
    await opts.invoke(
      fn,
      {
        triggerValue: { method, url: info.url, headers: info.headers, params: info.params },
        triggerMetadata: { Headers: info.headers, ...info.params },
      },
      { invocationId: info.invocationId, traceParent: info.traceParent },
    );
  } catch (e) {
    proxyReq.destroy();
    throw failure instanceof BodyTooLargeError ? failure : e;
  }
  if (failure instanceof BodyTooLargeError) throw failure;
  // The library has written its answer by now (or returned nothing); give it a moment to arrive.
  for (let i = 0; i < 100 && !responded; i++) await new Promise((r) => setTimeout(r, 10));
  if (!responded) {
    proxyReq.destroy();
    res.writeHead(204).end();
    return;
  }
  await answered;
}
