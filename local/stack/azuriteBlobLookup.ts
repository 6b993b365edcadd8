import { azuriteResolve } from './azuriteModules';

/**
 * Azurite finds, counts and deletes a blob or container by an equality query whose first key
 * is `accountName` (`{ accountName, containerName, name, snapshot }`). Its store (LokiJS) uses a
 * binary index only for the first key of a query, and every document of the account has the
 * same `accountName`, so each lookup scans every blob in the emulator, snapshots included: with a
 * recovery point a second that is O(points) of emulator CPU on every request that names a blob
 * (13 % of Azurite's busy time in a 40 s RPO bench run, growing with the run). Putting `name`
 * first lets the store use its index on `name`, then filter the few documents of that name.
 *
 * Only for Azurite's blob and container collections, and only where the order of what a query
 * matches cannot show: one document (`findOne`; a blob is unique by account, container, name and
 * snapshot, a container by account and name), how many (`count`: a blob delete first asks how many
 * snapshots it has) and removing them (`findAndRemove`). So which key filters first changes
 * nothing but the cost.
 */
const COLLECTIONS = new Set(['$BLOBS_COLLECTION$', '$CONTAINERS_COLLECTION$']);

type Query = Record<string, unknown>;

/** The same equality query with `name` first, or the query itself when that does not apply. */
export function nameFirst(query: unknown): unknown {
  if (!query || typeof query !== 'object' || Array.isArray(query)) return query;
  const q = query as Query;
  const keys = Object.keys(q);
  if (keys[0] === 'name' || !keys.includes('name')) return query;
  // Plain equalities only: an operator object ({ $gt: … }) or a $and/$or is left as it is.
  if (keys.some((k) => k.startsWith('$') || (q[k] !== null && typeof q[k] === 'object'))) {
    return query;
  }
  const out: Query = { name: q.name };
  for (const k of keys) if (k !== 'name') out[k] = q[k];
  return out;
}

/** The LokiJS collection members the local stack's Azurite patches use. */
export interface LokiCollection {
  name: string;
  binaryIndices: Record<string, unknown>;
  data: object[];
  adaptiveBinaryIndices: boolean;
  findOne(query: unknown): unknown;
  count(query?: unknown): number;
  findAndRemove(query: unknown): void;
  remove(doc: object): unknown;
  removeBatchByPositions(positions: number[]): unknown;
}

/** The LokiJS module Azurite loads (resolved from Azurite's own directory). */
export function azuriteLoki(): { Collection: { prototype: LokiCollection } } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(azuriteResolve('lokijs')) as {
    Collection: { prototype: LokiCollection };
  };
}

const BY_QUERY = ['findOne', 'count', 'findAndRemove'] as const;

/** Wraps LokiJS's lookups by query for Azurite's blob and container collections. */
export function installBlobLookup(): void {
  const proto = azuriteLoki().Collection.prototype;
  for (const method of BY_QUERY) {
    const original = proto[method] as (this: LokiCollection, query: unknown) => unknown;
    if (typeof original !== 'function') {
      throw new Error(
        `LokiJS has no Collection.${method}: review local/stack/azuriteBlobLookup.ts`,
      );
    }
    (proto as unknown as Record<string, unknown>)[method] = function (
      this: LokiCollection,
      query: unknown,
    ) {
      const indexed = COLLECTIONS.has(this.name) && this.binaryIndices.name !== undefined;
      return original.call(this, indexed ? nameFirst(query) : query);
    };
  }
}
