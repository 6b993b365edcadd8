import type { HttpRequest } from '@azure/functions';
import type { Page } from '../../core/documents/ports';
import { validation } from '../../core/errors';

/** The query parameters every list operation takes (for the OpenAPI document). */
export const pagingQuery = {
  limit: 'Page size (1-1000)',
  continuation: 'Token from the previous page',
} as const;

export interface PageRequest {
  limit?: number;
  continuation?: string;
}

/** `?limit=` (1..1000) and `?continuation=` (opaque). */
export function pageRequest(req: HttpRequest): PageRequest {
  const raw = req.query.get('limit');
  let limit: number | undefined;
  if (raw !== null) {
    limit = Number(raw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw validation('limit must be an integer from 1 to 1000.');
    }
  }
  const continuation = req.query.get('continuation') ?? undefined;
  return { limit, ...(continuation ? { continuation } : {}) };
}

/** A store page as an API page: the documents without their ETags. */
export const docsOf = <T>(page: Page<T>): { items: T[]; continuation?: string } => ({
  items: page.items.map((x) => x.doc),
  continuation: page.continuation,
});

/** `{ items, continuation? }` body plus a `Link: rel="next"` header when more follow. */
export function pageResponse<T>(
  req: HttpRequest,
  page: { items: T[]; continuation?: string },
): { status: number; headers: Record<string, string>; jsonBody: unknown } {
  const headers: Record<string, string> = {};
  if (page.continuation) {
    const next = new URL(req.url);
    next.searchParams.set('continuation', page.continuation);
    headers.link = `<${next.pathname}${next.search}>; rel="next"`;
  }
  return {
    status: 200,
    headers,
    jsonBody: {
      items: page.items,
      ...(page.continuation ? { continuation: page.continuation } : {}),
    },
  };
}
