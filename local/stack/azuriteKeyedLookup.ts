import { azuriteLoki, type LokiCollection } from './azuriteBlobLookup';

/**
 * Every page write to a replica looks the replica up by account, container, name and snapshot
 * (`''`), and by name first (`azuriteBlobLookup.ts`) that still filters every document of that
 * name: one per recovery point's snapshot. With a point a second it went from 3.6 to 6.7 % of a
 * core over a 180 s RPO bench run, one of the two emulator costs that grew with the run. Such a
 * key names one document at most, so the local stack remembers which (by its `$loki` id, never
 * reused) and trusts it only while a document with that id is still there with those fields (a
 * binary search by id); otherwise it asks LokiJS, as before.
 */
const KEYS: Readonly<Record<string, readonly string[]>> = {
  $BLOBS_COLLECTION$: ['accountName', 'containerName', 'name', 'snapshot'],
  $CONTAINERS_COLLECTION$: ['accountName', 'name'],
};
/** Ids remembered per collection before starting again (deleted blobs' keys are not removed). */
const REMEMBERED = 8192;

type Doc = Record<string, unknown> & { $loki?: number };
type FindOne = (this: LokiCollection, query: unknown) => unknown;
interface Keyed extends LokiCollection {
  cloneObjects?: boolean;
  get(id: number): Doc | null;
}

/** The query's values in `keys` order, when it is exactly those keys, each a plain string. */
export function keyOf(keys: readonly string[], query: unknown): string | undefined {
  if (!query || typeof query !== 'object' || Array.isArray(query)) return undefined;
  const q = query as Record<string, unknown>;
  if (Object.keys(q).length !== keys.length) return undefined;
  const values: string[] = [];
  for (const k of keys) {
    const v = q[k];
    if (typeof v !== 'string') return undefined;
    values.push(v);
  }
  return JSON.stringify(values);
}

/** A `findOne` that remembers which document each full key found. */
export function keyedFindOne(original: FindOne): FindOne {
  const ids = new WeakMap<LokiCollection, Map<string, number>>();
  return function (this: LokiCollection, query: unknown) {
    const coll = this as Keyed; // LokiJS's collection, which has these too
    const keys = KEYS[coll.name];
    const key = keys && !coll.cloneObjects ? keyOf(keys, query) : undefined;
    if (!keys || key === undefined) return original.call(this, query);
    let mine = ids.get(coll);
    if (!mine) ids.set(coll, (mine = new Map()));
    const id = mine.get(key);
    if (id !== undefined) {
      const doc = coll.get(id);
      const q = query as Doc;
      if (doc && keys.every((k) => doc[k] === q[k])) return doc;
      mine.delete(key);
    }
    const found = original.call(this, query) as Doc | null;
    if (found && typeof found.$loki === 'number') {
      if (mine.size >= REMEMBERED) mine.clear();
      mine.set(key, found.$loki);
    }
    return found;
  };
}

/** Installs `keyedFindOne` over LokiJS's (already name-first) `findOne` in Azurite's process. */
export function installKeyedLookup(): void {
  const proto = azuriteLoki().Collection.prototype;
  proto.findOne = keyedFindOne(proto.findOne);
}
