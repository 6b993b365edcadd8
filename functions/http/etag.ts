import type { HttpRequest } from '@azure/functions';
import { validation } from '../../core/errors';

/*
 * Store ETags are opaque and their quoting differs (real Cosmos quotes them, the emulator
 * does not), so the HTTP ETag is the store's ETag base64url-encoded inside quotes, and
 * If-Match is decoded back. Both directions go through here.
 */

/** The ETag header value for a store ETag. */
export const etagHeader = (etag: string): string =>
  `"${Buffer.from(etag, 'utf8').toString('base64url')}"`;

/** A reply carrying a stored document and its `ETag`. */
export function versioned<T>(
  v: { doc: T; etag: string },
  init: { status?: number; headers?: Record<string, string> } = {},
): { status: number; headers: Record<string, string>; jsonBody: T } {
  return {
    status: init.status ?? 200,
    headers: { ...init.headers, etag: etagHeader(v.etag) },
    jsonBody: v.doc,
  };
}

/** The store ETag named by `If-Match` (one strong ETag); absent or `*` → undefined. */
export function ifMatch(req: HttpRequest): string | undefined {
  const v = req.headers.get('if-match')?.trim();
  if (!v || v === '*') return undefined;
  const m = /^"([A-Za-z0-9_-]+)"$/.exec(v.startsWith('W/') ? v.slice(2) : v);
  if (!m) throw validation('If-Match must carry one ETag as returned by this API.');
  return Buffer.from(m[1]!, 'base64url').toString('utf8');
}
