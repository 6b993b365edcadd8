import { describe, expect, it } from 'vitest';
import type { LokiCollection } from '../../../local/stack/azuriteBlobLookup';
import { keyedFindOne, keyOf } from '../../../local/stack/azuriteKeyedLookup';
import { azuriteBlobCollection, randomBlobKey } from '../../support/azuriteBlobCollection';

const rnd = (n: number) => Math.floor(Math.random() * n);
type Doc = { accountName: string; containerName: string; name: string; snapshot: string };
type Coll = LokiCollection & {
  insert(doc: object): object;
  update(doc: object): void;
};

const key = (d: Doc) => JSON.stringify([d.accountName, d.containerName, d.name, d.snapshot]);

describe('Azurite blob lookups by full key remembered (local stack patch)', () => {
  it('finds the very document LokiJS finds, through inserts, replaces, updates and deletes', () => {
    const coll = azuriteBlobCollection<Coll>();
    const plain = coll.findOne.bind(coll);
    let asked = 0;
    const original = coll.findOne;
    const keyed = keyedFindOne(function (this: LokiCollection, q: unknown) {
      asked++;
      return original.call(this, q);
    }).bind(coll);
    const live = new Map<string, Doc>();
    let hits = 0;
    for (let k = 0; k < 6000; k++) {
      const d = randomBlobKey(60, 1);
      const there = live.get(key(d)) as (Doc & object) | undefined;
      const op = rnd(10);
      if (op < 3 && !there) {
        coll.insert({ ...d, size: 0 });
        live.set(key(d), d);
      } else if (op === 3 && there) {
        coll.remove(plain({ ...d })!); // replace, as Azurite's createBlob does
        coll.insert({ ...d, size: 1 });
      } else if (op === 4 && there) {
        const doc = plain({ ...d }) as Doc & { size: number };
        doc.size++;
        coll.update(doc);
      } else if (op === 5 && there) {
        coll.remove(plain({ ...d })!);
        live.delete(key(d));
      }
      const probe = rnd(5) ? d : ([...live.values()][rnd(live.size)] ?? d);
      const mine = keyed({ ...probe });
      expect(mine).toBe(plain({ ...probe }));
      if (mine) hits++;
    }
    expect(hits).toBeGreaterThan(2000);
    // Remembered: the lookups that found a document did not all ask LokiJS again.
    expect(asked).toBeLessThan(6000 - hits / 2);
  });

  it('takes only a query of exactly the key’s plain strings', () => {
    const keys = ['accountName', 'name'];
    expect(keyOf(keys, { accountName: 'a', name: 'b' })).toBe('["a","b"]');
    expect(keyOf(keys, { name: 'b', accountName: 'a' })).toBe('["a","b"]');
    for (const other of [
      { accountName: 'a' },
      { accountName: 'a', name: 'b', snapshot: '' },
      { accountName: 'a', name: { $gt: 'b' } },
      { accountName: 'a', containerName: 'b' },
      undefined,
      ['a', 'b'],
    ]) {
      expect(keyOf(keys, other)).toBeUndefined();
    }
  });
});
