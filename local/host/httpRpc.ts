import { fromRpcTypedData, type RpcTypedData } from './rpcTypedData';

/** An HTTP request as drivers hand it to `invoke` (the `triggerValue` of an httpTrigger). */
export interface PlainHttpRequest {
  method: string;
  /** Absolute URL, query included. */
  url: string;
  headers: Record<string, string>;
  query?: Record<string, string>;
  params?: Record<string, string>;
  body?: Buffer | string;
}

/** An HTTP response as `invoke` returns it (the `returnValue` of an httpTrigger). */
export interface PlainHttpResponse {
  status: number;
  headers: Record<string, string>;
  /** Serialized `Set-Cookie` values. */
  cookies: string[];
  body: Buffer;
}

export function isPlainHttpRequest(v: unknown): v is PlainHttpRequest {
  return !!v && typeof v === 'object' && 'method' in v && 'url' in v;
}

/** Builds the worker protocol's `RpcHttp` for a request. */
export function toRpcHttpRequest(req: PlainHttpRequest): RpcTypedData {
  const url = new URL(req.url);
  const query = req.query ?? Object.fromEntries(url.searchParams.entries());
  const params = req.params ?? {};
  const body =
    req.body === undefined || req.body.length === 0
      ? undefined
      : typeof req.body === 'string'
        ? { string: req.body }
        : { bytes: req.body };
  return {
    http: {
      method: req.method.toUpperCase(),
      url: req.url,
      headers: req.headers,
      nullableHeaders: nullable(req.headers),
      query,
      nullableQuery: nullable(query),
      params,
      nullableParams: nullable(params),
      body,
      identities: [],
    },
  };
}

function nullable(m: Record<string, string>): Record<string, { value: string }> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, { value: v }]));
}

interface RpcCookie {
  name: string;
  value: string;
  domain?: { value: string };
  path?: { value: string };
  expires?: { value: { seconds: number } };
  secure?: { value: boolean };
  httpOnly?: { value: boolean };
  sameSite?: string;
  maxAge?: { value: number };
}

/** Reads the `{ http: RpcHttp }` the library returns for an HTTP output. */
export function fromRpcHttpResponse(data: unknown): PlainHttpResponse | undefined {
  if (!data || typeof data !== 'object') return undefined;
  const http = (data as { http?: Record<string, unknown> }).http;
  if (!http) return undefined;
  const body = fromRpcTypedData(http.body);
  return {
    status: Number(http.statusCode ?? 200) || 200,
    headers: { ...((http.headers as Record<string, string>) ?? {}) },
    cookies: ((http.cookies as RpcCookie[]) ?? []).map(serializeCookie),
    body: Buffer.isBuffer(body)
      ? body
      : body === undefined
        ? Buffer.alloc(0)
        : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  };
}

function serializeCookie(c: RpcCookie): string {
  const parts = [`${c.name}=${encodeURIComponent(c.value)}`];
  if (c.domain?.value) parts.push(`Domain=${c.domain.value}`);
  if (c.path?.value) parts.push(`Path=${c.path.value}`);
  if (c.expires?.value)
    parts.push(`Expires=${new Date(c.expires.value.seconds * 1000).toUTCString()}`);
  if (c.maxAge?.value !== undefined) parts.push(`Max-Age=${c.maxAge.value}`);
  if (c.secure?.value) parts.push('Secure');
  if (c.httpOnly?.value) parts.push('HttpOnly');
  const sameSite = { lax: 'Lax', strict: 'Strict', explicitNone: 'None' }[c.sameSite ?? ''];
  if (sameSite) parts.push(`SameSite=${sameSite}`);
  return parts.join('; ');
}
