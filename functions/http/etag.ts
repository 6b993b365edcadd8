import type { HttpRequest } from '@azure/functions';
import { validation } from '../../core/errors';

/** The `If-Match` value (one strong ETag); `*` means "any existing" and is treated as absent. */
export function ifMatch(req: HttpRequest): string | undefined {
  const v = req.headers.get('if-match')?.trim();
  if (!v || v === '*') return undefined;
  if (v.includes(',')) throw validation('If-Match must carry a single ETag.');
  return v.startsWith('W/') ? v.slice(2) : v;
}

/** ETags from the store are already quoted (Cosmos); make sure the header value is. */
export const etagHeader = (etag: string): string => (etag.startsWith('"') ? etag : `"${etag}"`);
