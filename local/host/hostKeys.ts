import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export type AuthLevel = 'anonymous' | 'function' | 'admin';

export interface HostKeys {
  masterKey: string;
  /** Function keys by function name; `default` is a host key valid for every function. */
  functionKeys?: Record<string, string>;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The key a caller presented: `x-functions-key` header or `code` query parameter. */
export function presentedKey(req: IncomingMessage, url: URL): string | undefined {
  const h = req.headers['x-functions-key'];
  return (Array.isArray(h) ? h[0] : h) ?? url.searchParams.get('code') ?? undefined;
}

/** Mirrors the Functions host: the master key opens everything, function keys open their function. */
export function isAuthorized(
  level: AuthLevel,
  key: string | undefined,
  keys: HostKeys,
  functionName?: string,
): boolean {
  if (level === 'anonymous') return true;
  if (!key) return false;
  if (same(key, keys.masterKey)) return true;
  if (level === 'admin') return false;
  const fk = keys.functionKeys ?? {};
  const own = functionName ? fk[functionName] : undefined;
  return (
    (own !== undefined && same(key, own)) || (fk.default !== undefined && same(key, fk.default))
  );
}
