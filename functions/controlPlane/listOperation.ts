import type { z } from 'zod';
import type { Root } from '../../app/root';
import type { Page } from '../../core/documents/ports';
import { register } from './api';
import { pageOf } from './responseSchemas';
import { handler, type Handler } from '../http/handler';
import { docsOf, pageRequest, pageResponse, pagingQuery, type PageRequest } from '../http/paging';

export interface ListOperation {
  name: string;
  route: string;
  tag: string;
  summary: string;
  /** Shape of one listed document. */
  item: z.ZodType;
  /** Plural noun for the response description, e.g. `sites`. */
  what: string;
}

/** Registers an admin list of stored documents: `GET <route>?limit=&continuation=` → a page. */
export function registerList(
  { item, what, ...op }: ListOperation,
  list: (root: Root, page: PageRequest) => Promise<Page<unknown>>,
): Handler {
  return register(
    {
      ...op,
      method: 'GET',
      caller: 'admin',
      query: pagingQuery,
      response: pageOf(item),
      responses: { 200: `A page of ${what}` },
    },
    handler(async (root, req) => pageResponse(req, docsOf(await list(root, pageRequest(req))))),
  );
}
