import { BlobServiceClient } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import { startAzurite } from '../../../local/stack/azurite';
import type { LokiCollection } from '../../../local/stack/azuriteBlobLookup';
import { FEW, fewOneByOne } from '../../../local/stack/azuriteIndexedRemove';
import { azuriteBlobCollection, randomBlobKey } from '../../support/azuriteBlobCollection';

const rnd = (n: number) => Math.floor(Math.random() * n);
const KEYS = ['accountName', 'containerName', 'name', 'snapshot'] as const;
type Doc = Record<(typeof KEYS)[number], string> & { $loki?: number };
type Coll = LokiCollection & {
  insert(doc: object): void;
  find(q?: unknown): Doc[];
  binaryIndices: Record<string, { values: number[] }>;
};

/** Two stores indexed as Azurite's blob collection, one removing as the patch does. */
function stores(): { plain: Coll; patched: Coll } {
  const plain = azuriteBlobCollection<Coll>();
  const patched = azuriteBlobCollection<Coll>();
  patched.removeBatchByPositions = fewOneByOne(patched.removeBatchByPositions);
  for (let i = 0; i < 1500; i++) {
    const doc = randomBlobKey(80);
    plain.insert({ ...doc });
    patched.insert({ ...doc });
  }
  return { plain, patched };
}

const ids = (docs: Doc[]) => docs.map((d) => d.$loki).sort((a, z) => a! - z!);

/** Every index holds each document once, in order of its key. */
function expectSorted(c: Coll): void {
  for (const k of KEYS) {
    const values = c.binaryIndices[k]!.values;
    expect([...values].sort((a, z) => a - z)).toEqual(c.data.map((_, i) => i));
    for (let i = 1; i < values.length; i++) {
      const [a, z] = [c.data[values[i - 1]!] as Doc, c.data[values[i]!] as Doc];
      expect(a[k] <= z[k]).toBe(true);
    }
  }
}

describe('Azurite removes a few documents with its indices kept in place (local stack patch)', () => {
  it('removes what LokiJS’s batch removal removes, and every index stays whole and sorted', () => {
    const { plain, patched } = stores();
    let few = 0;
    for (let k = 0; k < 300; k++) {
      const d = plain.data[rnd(plain.data.length)] as Doc;
      const q =
        k % 50 === 49
          ? { containerName: d.containerName, accountName: d.accountName } // a large batch
          : rnd(2)
            ? { accountName: d.accountName, containerName: d.containerName, name: d.name }
            : { ...d, $loki: undefined, meta: undefined };
      const query = Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined));
      const n = plain.count(query);
      if (n <= FEW) few++;
      plain.findAndRemove(query);
      patched.findAndRemove(query);
      expect(patched.count(query)).toBe(0);
      expect(ids(patched.find())).toEqual(ids(plain.find()));
      if (k % 25 === 0) expectSorted(patched);
      for (const key of KEYS) {
        const probe = { [key]: d[key] };
        expect(ids(patched.find(probe))).toEqual(ids(plain.find(probe)));
      }
    }
    expectSorted(patched);
    expect(few).toBeGreaterThan(250);
    expect(patched.data.length).toBeLessThan(1500);
  });

  it('the stack’s Azurite deletes blobs and snapshots as the service does', async () => {
    const az = await startAzurite();
    try {
      expect(az.process.spawnargs.some((a) => /azuritePreload\.(ts|js)$/.test(a))).toBe(true);
      const container = BlobServiceClient.fromConnectionString(
        az.connectionString,
      ).getContainerClient('staging');
      await container.create();
      const model = new Map<string, string[]>(); // blob → its snapshots
      for (let i = 0; i < 40; i++) {
        const blob = container.getBlockBlobClient(`m/d/${i}`);
        await blob.upload(`batch ${i}`, 7 + String(i).length);
        const snaps: string[] = [];
        for (let s = 0; s < i % 3; s++) snaps.push((await blob.createSnapshot()).snapshot!);
        model.set(blob.name, snaps);
      }
      for (let i = 0; i < 40; i++) {
        const blob = container.getBlobClient(`m/d/${i}`);
        const snaps = model.get(blob.name)!;
        if (i % 4 === 0) {
          await blob.delete({ deleteSnapshots: 'include' });
          model.delete(blob.name);
        } else if (snaps.length && i % 4 === 1) {
          await expect(blob.delete()).rejects.toMatchObject({ statusCode: 409 });
          await blob.withSnapshot(snaps[0]!).delete();
          snaps.shift();
        } else if (snaps.length && i % 4 === 2) {
          await blob.delete({ deleteSnapshots: 'only' });
          snaps.length = 0;
        } else if (!snaps.length) {
          await blob.delete();
          model.delete(blob.name);
        }
      }
      const listed: string[] = [];
      for await (const b of container.listBlobsFlat({ includeSnapshots: true })) {
        listed.push(b.snapshot ? `${b.name}@${b.snapshot}` : b.name);
      }
      const expected = [...model].flatMap(([name, snaps]) => [
        name,
        ...snaps.map((s) => `${name}@${s}`),
      ]);
      expect(listed.sort()).toEqual(expected.sort());
      expect(model.size).toBeGreaterThan(10);
      expect(listed.length).toBeGreaterThan(model.size);
    } finally {
      await az.stop();
    }
  });
});
