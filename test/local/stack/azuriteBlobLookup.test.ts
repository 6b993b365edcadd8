import { describe, expect, it } from 'vitest';
import { nameFirst } from '../../../local/stack/azuriteBlobLookup';
import { azuriteBlobCollection, randomBlobKey } from '../../support/azuriteBlobCollection';

const rnd = (n: number) => Math.floor(Math.random() * n);

interface Coll {
  insert(doc: object): void;
  findOne(q: unknown): unknown;
}

describe('Azurite blob lookups by name first (local stack patch)', () => {
  it('puts name first in plain equality queries and leaves every other query alone', () => {
    const q = { accountName: 'a', containerName: 'c', name: 'b', snapshot: '' };
    expect(Object.keys(nameFirst(q) as object)).toEqual([
      'name',
      'accountName',
      'containerName',
      'snapshot',
    ]);
    expect(nameFirst(q)).toEqual(q);
    for (const same of [
      { accountName: 'a' },
      { name: 'b', accountName: 'a' },
      { accountName: 'a', name: { $regex: /b/ } },
      { $and: [{ accountName: 'a' }, { name: 'b' }] },
      undefined,
    ]) {
      expect(nameFirst(same)).toBe(same);
    }
  });

  it('finds the same document as the query in Azurite’s order, in a store indexed as Azurite’s', () => {
    const blobs = azuriteBlobCollection<Coll>();
    const docs: { accountName: string; containerName: string; name: string; snapshot: string }[] =
      [];
    for (let i = 0; i < 2000; i++) {
      const doc = randomBlobKey(50);
      if (docs.some((d) => JSON.stringify(d) === JSON.stringify(doc))) continue; // unique, as there
      docs.push(doc);
      blobs.insert({ ...doc, i });
    }
    let found = 0;
    for (let k = 0; k < 3000; k++) {
      const probe = rnd(4) ? docs[rnd(docs.length)]! : { ...docs[rnd(docs.length)]!, name: 'none' };
      const q = { ...probe, containerName: rnd(8) ? probe.containerName : `c${rnd(4)}` };
      const mine = blobs.findOne(nameFirst(q));
      expect(mine).toBe(blobs.findOne(q));
      if (mine) found++;
    }
    expect(found).toBeGreaterThan(1000);
  });
});
