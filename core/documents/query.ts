import { validation } from '../errors';
import { HavenError } from '../errors';
import type { CollectionDef, Filter, OrderBy, Query } from './ports';

/** Shared query semantics of both document-store adapters (paging, ordering, validation). */

const FIELD_PATH = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/;
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

/** Field names end up in SQL text, so only plain identifiers are accepted. */
export function assertFieldPath(field: string): string {
  if (!FIELD_PATH.test(field)) throw validation(`Invalid field path '${field}'.`);
  return field;
}

export interface PlannedQuery {
  where: readonly Filter[];
  /** Requested ordering with `id` appended as the unique tie-break. */
  orderBy: Required<OrderBy>[];
  limit: number;
  /** Sort-key values of the last item of the previous page. */
  after?: unknown[];
}

export function planQuery(q: Query = {}): PlannedQuery {
  const limit = q.limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw validation(`Page size must be an integer from 1 to ${MAX_PAGE}.`);
  }
  const orderBy: Required<OrderBy>[] = (q.orderBy ?? [])
    .filter((o) => o.field !== 'id')
    .map((o) => ({ field: assertFieldPath(o.field), direction: o.direction ?? 'asc' }));
  // The tie-break follows the last key's direction, so the whole ORDER BY is either a declared
  // composite index or its exact reverse (which real Cosmos requires).
  const idDirection =
    q.orderBy?.find((o) => o.field === 'id')?.direction ?? orderBy.at(-1)?.direction ?? 'asc';
  orderBy.push({ field: 'id', direction: idDirection });
  for (const f of q.where ?? []) {
    assertFieldPath(f.field);
    if (f.op === 'in' && !Array.isArray(f.value)) throw validation(`'in' needs an array.`);
  }
  const after = q.continuation ? decodeContinuation(q.continuation, orderBy) : undefined;
  return { where: q.where ?? [], orderBy, limit, after };
}

function orderSignature(orderBy: Required<OrderBy>[]): string {
  return orderBy.map((o) => `${o.field}:${o.direction}`).join(',');
}

export function encodeContinuation(doc: unknown, orderBy: Required<OrderBy>[]): string {
  const k = orderBy.map((o) => readPath(doc, o.field) ?? null);
  return Buffer.from(JSON.stringify({ o: orderSignature(orderBy), k })).toString('base64url');
}

function decodeContinuation(token: string, orderBy: Required<OrderBy>[]): unknown[] {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as {
      o?: unknown;
      k?: unknown;
    };
    if (
      parsed.o === orderSignature(orderBy) &&
      Array.isArray(parsed.k) &&
      parsed.k.length === orderBy.length
    ) {
      return parsed.k;
    }
  } catch {
    // fall through: any undecodable token is the caller's mistake
  }
  throw validation('Invalid continuation token.');
}

export function readPath(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Cosmos' cross-type order: undefined < null < booleans < numbers < strings. */
function typeRank(v: unknown): number {
  if (v === undefined) return 0;
  if (v === null) return 1;
  if (typeof v === 'boolean') return 2;
  if (typeof v === 'number') return 3;
  if (typeof v === 'string') return 4;
  return 5;
}

export function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return 0;
}

export function matchesFilter(doc: unknown, f: Filter): boolean {
  const v = readPath(doc, f.field);
  if (f.op === 'in') {
    return (f.value as readonly unknown[]).some(
      (x) => v !== undefined && compareValues(v, x) === 0,
    );
  }
  if (v === undefined) return false;
  // Comparisons across types are undefined in Cosmos (no match); keep that here.
  if (f.op !== '=' && f.op !== '!=' && typeRank(v) !== typeRank(f.value)) return false;
  const c = compareValues(v, f.value);
  switch (f.op) {
    case '=':
      return c === 0;
    case '!=':
      return c !== 0;
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
  }
}

export function compareByOrder(a: unknown, b: unknown, orderBy: Required<OrderBy>[]): number {
  for (const o of orderBy) {
    const c = compareValues(readPath(a, o.field), readPath(b, o.field));
    if (c !== 0) return o.direction === 'asc' ? c : -c;
  }
  return 0;
}

/** Keyset paging: the document sorts strictly after the previous page's last key. */
export function isAfter(doc: unknown, after: unknown[], orderBy: Required<OrderBy>[]): boolean {
  for (let i = 0; i < orderBy.length; i++) {
    const o = orderBy[i]!;
    const c = compareValues(readPath(doc, o.field), after[i]);
    if (c !== 0) return o.direction === 'asc' ? c > 0 : c < 0;
  }
  return false;
}

/**
 * A multi-key ORDER BY needs a composite index (real Cosmos and the emulator refuse it
 * otherwise), so queries may only use orderings the collection declares. Checked by every
 * adapter so the memory store catches what Cosmos would refuse.
 */
export function assertDeclaredOrdering(def: CollectionDef, plan: PlannedQuery): void {
  if (plan.orderBy.length === 1) return; // id alone: always indexed
  const sig = (o: Required<OrderBy>[]) => o.map((x) => `${x.field}:${x.direction}`).join(',');
  const wanted = sig(plan.orderBy);
  const declared = (def.orderings ?? []).map((ord) => sig(planQuery({ orderBy: ord }).orderBy));
  if (!declared.includes(wanted)) {
    throw new HavenError(
      'internal',
      `Ordering ${wanted} is not declared on collection ${def.name}.`,
    );
  }
}
