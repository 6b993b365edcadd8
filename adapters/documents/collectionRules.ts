import { validation } from '../../core/errors';
import type { CollectionDef, Page, Versioned } from '../../core/documents/ports';
import { encodeContinuation, type PlannedQuery } from '../../core/documents/query';

// Rules both document adapters apply the same way, so the memory store keeps Cosmos semantics.

/** The document's partition key value; a document without one is refused. */
export function partitionKeyOf(def: CollectionDef, doc: object): string {
  const v = (doc as Record<string, unknown>)[def.partitionKey];
  if (typeof v !== 'string' || !v) {
    throw validation(`Document lacks partition key '${def.partitionKey}'.`);
  }
  return v;
}

/** Expiry is checked on read (the emulator has no TTL): expired when the field is a past epoch ms. */
export function isExpired(def: CollectionDef, doc: object, now: number): boolean {
  if (!def.expiresAtField) return false;
  const exp = (doc as Record<string, unknown>)[def.expiresAtField];
  return typeof exp === 'number' && exp <= now;
}

/** One page from rows fetched with one extra row (limit + 1) to tell whether more follow. */
export function toPage<T>(rows: Versioned<T>[], plan: PlannedQuery): Page<T> {
  const items = rows.slice(0, plan.limit);
  const more = rows.length > plan.limit;
  return {
    items,
    continuation: more ? encodeContinuation(items[items.length - 1]!.doc, plan.orderBy) : undefined,
  };
}
