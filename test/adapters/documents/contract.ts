import { describe, expect, it } from 'vitest';
import type { CollectionDef, Document, DocumentStore } from '../../../core/documents/ports';
import { HavenError } from '../../../core/errors';
import { groupCollectionsDefs } from '../../../core/controlPlane/groupModel';

interface Item extends Document {
  tenant: string;
  n: number;
  name: string;
  tag?: string;
  nested?: { os: string };
  expiresAt?: number;
}

export interface StoreFixture {
  store: DocumentStore;
  /** Moves the store's clock forward (expiry checks). */
  advance(ms: number): void;
}

let counter = 0;
const def = (extra: Partial<CollectionDef> = {}): CollectionDef => ({
  name: `items${++counter}x${Math.floor(Math.random() * 1e6)}`,
  partitionKey: 'tenant',
  orderings: [[{ field: 'n' }], [{ field: 'n', direction: 'desc' }]],
  ...extra,
});

async function kind(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof HavenError) return e.kind;
    throw e;
  }
}

/** The one contract every DocumentStore implementation must satisfy. */
export function documentStoreContract(name: string, make: () => Promise<StoreFixture>): void {
  describe(`DocumentStore contract: ${name}`, () => {
    it('creates, reads and refuses a duplicate id with conflict', async () => {
      const { store } = await make();
      const c = store.collection<Item>(def());
      const created = await c.create({ id: 'a', tenant: 't1', n: 1, name: 'x' });
      expect(created.etag).toBeTruthy();
      expect(created.doc).toEqual({ id: 'a', tenant: 't1', n: 1, name: 'x' });
      const read = await c.get('t1', 'a');
      expect(read?.doc).toEqual({ id: 'a', tenant: 't1', n: 1, name: 'x' });
      expect(read?.etag).toBe(created.etag);
      expect(await kind(c.create({ id: 'a', tenant: 't1', n: 2, name: 'y' }))).toBe('conflict');
      expect((await c.get('t1', 'a'))?.doc.n).toBe(1);
      expect(await c.get('t2', 'a')).toBeUndefined();
      expect(await c.get('t1', 'missing')).toBeUndefined();
    });

    it('replaces with a matching ETag, refuses a stale one with precondition', async () => {
      const { store } = await make();
      const c = store.collection<Item>(def());
      const v1 = await c.create({ id: 'a', tenant: 't', n: 1, name: 'x' });
      const v2 = await c.replace({ ...v1.doc, n: 2 }, { ifMatch: v1.etag });
      expect(v2.etag).not.toBe(v1.etag);
      expect(await kind(c.replace({ ...v1.doc, n: 3 }, { ifMatch: v1.etag }))).toBe('precondition');
      expect((await c.get('t', 'a'))?.doc.n).toBe(2);
      expect(await kind(c.replace({ id: 'zz', tenant: 't', n: 1, name: '' }))).toBe('not-found');
      expect(await kind(c.upsert({ ...v1.doc, n: 4 }, { ifMatch: v1.etag }))).toBe('precondition');
      await c.replace({ ...v1.doc, n: 5 });
      expect((await c.get('t', 'a'))?.doc.n).toBe(5);
    });

    it('only one of two concurrent conditional replaces wins', async () => {
      const { store } = await make();
      const c = store.collection<Item>(def());
      const v1 = await c.create({ id: 'a', tenant: 't', n: 0, name: 'x' });
      const results = await Promise.all(
        [1, 2, 3].map((n) => kind(c.replace({ ...v1.doc, n }, { ifMatch: v1.etag }))),
      );
      expect(results.filter((r) => r === 'ok')).toHaveLength(1);
      expect(results.filter((r) => r === 'precondition')).toHaveLength(2);
    });

    it('upserts and deletes (with and without ETag)', async () => {
      const { store } = await make();
      const c = store.collection<Item>(def());
      const v1 = await c.upsert({ id: 'a', tenant: 't', n: 1, name: 'x' });
      await c.upsert({ id: 'a', tenant: 't', n: 2, name: 'x' });
      expect((await c.get('t', 'a'))?.doc.n).toBe(2);
      expect(await kind(c.delete('t', 'a', { ifMatch: v1.etag }))).toBe('precondition');
      expect(await c.delete('t', 'a')).toBe(true);
      expect(await c.delete('t', 'a')).toBe(false);
      expect(await c.get('t', 'a')).toBeUndefined();
    });

    it('queries by filters within a partition and across partitions', async () => {
      const { store } = await make();
      const c = store.collection<Item>(def());
      for (let i = 0; i < 6; i++) {
        await c.create({
          id: `i${i}`,
          tenant: i % 2 ? 'odd' : 'even',
          n: i,
          name: `n${i}`,
          tag: i < 3 ? 'low' : 'high',
          nested: { os: i === 4 ? 'linux' : 'windows' },
        });
      }
      const ids = async (q: Parameters<typeof c.query>[0]) =>
        (await c.query(q)).items.map((x) => x.doc.id);
      expect(await ids({ partitionKey: 'odd', orderBy: [{ field: 'n' }] })).toEqual([
        'i1',
        'i3',
        'i5',
      ]);
      expect(
        await ids({
          where: [{ field: 'tag', op: '=', value: 'high' }],
          orderBy: [{ field: 'n', direction: 'desc' }],
        }),
      ).toEqual(['i5', 'i4', 'i3']);
      expect(
        await ids({
          where: [
            { field: 'n', op: '>=', value: 2 },
            { field: 'n', op: '<', value: 4 },
          ],
        }),
      ).toEqual(['i2', 'i3']);
      expect(await ids({ where: [{ field: 'name', op: 'in', value: ['n0', 'n5'] }] })).toEqual([
        'i0',
        'i5',
      ]);
      expect(await ids({ where: [{ field: 'nested.os', op: '=', value: 'linux' }] })).toEqual([
        'i4',
      ]);
      expect(
        await ids({ partitionKey: 'even', where: [{ field: 'tag', op: '!=', value: 'low' }] }),
      ).toEqual(['i4']);
      expect(await ids({ partitionKey: 'nobody' })).toEqual([]);
      expect(await ids({ where: [{ field: 'name', op: 'in', value: [] }] })).toEqual([]);
      expect(await ids({ where: [{ field: 'missing', op: '=', value: 'x' }] })).toEqual([]);
      const page = (await c.query({ where: [{ field: 'n', op: '=', value: 1 }] })).items[0]!;
      expect(page.etag).toBe((await c.get('odd', 'i1'))!.etag);
      expect(Object.keys(page.doc).some((k) => k.startsWith('_'))).toBe(false);
    });

    it('pages with continuation tokens in a stable order, without gaps or repeats', async () => {
      const { store } = await make();
      const c = store.collection<Item>(def());
      // Duplicate sort keys exercise the id tie-break.
      for (let i = 0; i < 11; i++) {
        await c.create({
          id: `k${String(i).padStart(2, '0')}`,
          tenant: `t${i % 3}`,
          n: i % 4,
          name: '',
        });
      }
      for (const direction of ['asc', 'desc'] as const) {
        const seen: string[] = [];
        let continuation: string | undefined;
        let pages = 0;
        do {
          const page = await c.query({
            orderBy: [{ field: 'n', direction }],
            limit: 4,
            continuation,
          });
          expect(page.items.length).toBeLessThanOrEqual(4);
          seen.push(...page.items.map((x) => x.doc.id));
          continuation = page.continuation;
          pages++;
        } while (continuation);
        expect(pages).toBe(3);
        const all = (await c.query({ orderBy: [{ field: 'n', direction }], limit: 100 })).items.map(
          (x) => x.doc.id,
        );
        expect(seen).toEqual(all);
        expect(new Set(seen).size).toBe(11);
        const ns = seen.map((id) => Number(id.slice(1)) % 4);
        const sorted = [...ns].sort((a, b) => (direction === 'asc' ? a - b : b - a));
        expect(ns).toEqual(sorted);
      }
      expect(await kind(c.query({ continuation: 'garbage' }))).toBe('validation');
      const first = await c.query({ orderBy: [{ field: 'n' }], limit: 2 });
      // A token is bound to its ordering.
      expect(
        await kind(
          c.query({
            orderBy: [{ field: 'n', direction: 'desc' }],
            continuation: first.continuation,
          }),
        ),
      ).toBe('validation');
      expect(await kind(c.query({ limit: 0 }))).toBe('validation');
      // Orderings need a declared (composite-indexed) ordering, in every adapter.
      expect(await kind(c.query({ orderBy: [{ field: 'name' }] }))).toBe('internal');
      expect(await kind(c.query({ where: [{ field: 'n; DROP', op: '=', value: 1 }] }))).toBe(
        'validation',
      );
    });

    it('treats expired documents as absent on read and in queries', async () => {
      const fx = await make();
      const c = fx.store.collection<Item>(def({ expiresAtField: 'expiresAt' }));
      const soon = Date.now() + 60_000;
      await c.create({ id: 'e', tenant: 't', n: 1, name: '', expiresAt: soon });
      await c.create({ id: 'f', tenant: 't', n: 2, name: '' });
      expect(await c.get('t', 'e')).toBeDefined();
      expect((await c.query({ partitionKey: 't' })).items).toHaveLength(2);
      fx.advance(120_000);
      expect(await c.get('t', 'e')).toBeUndefined();
      expect((await c.query({ partitionKey: 't' })).items.map((x) => x.doc.id)).toEqual(['f']);
      // The id stays taken until deleted, as in Cosmos.
      expect(await kind(c.create({ id: 'e', tenant: 't', n: 3, name: '' }))).toBe('conflict');
    });

    it('refuses documents without their partition key', async () => {
      const { store } = await make();
      const c = store.collection<Item>(def());
      expect(await kind(c.create({ id: 'x', n: 1, name: '' } as unknown as Item))).toBe(
        'validation',
      );
    });

    it('serves the consistency-group collections with their declared orderings and expiry', async () => {
      const fx = await make();
      const n = ++counter;
      const defs = Object.fromEntries(
        Object.entries(groupCollectionsDefs).map(([k, d]) => [k, { ...d, name: `${d.name}${n}` }]),
      ) as typeof groupCollectionsDefs;
      await fx.store.ensure(Object.values(defs));
      type Doc = Document & Record<string, unknown>;
      const members = fx.store.collection<Doc>(defs.groupMemberships);
      await members.create({ id: 'm1', machineId: 'm1', groupId: 'g1' });
      await members.create({ id: 'm2', machineId: 'm2', groupId: 'g2' });
      // One membership document per machine: a second group is a conflict.
      expect(await kind(members.create({ id: 'm1', machineId: 'm1', groupId: 'g2' }))).toBe(
        'conflict',
      );
      const inGroups = await members.query({
        where: [{ field: 'groupId', op: 'in', value: ['g1'] }],
      });
      expect(inGroups.items.map((x) => x.doc.id)).toEqual(['m1']);

      const bookmarks = fx.store.collection<Doc>(defs.groupBookmarks);
      for (const [id, at] of [
        ['b1', '2026-01-01T00:00:01Z'],
        ['b2', '2026-01-01T00:00:02Z'],
      ] as const)
        await bookmarks.create({ id, groupId: 'g1', createdAt: at, members: ['m1'] });
      const newest = await bookmarks.query({
        partitionKey: 'g1',
        orderBy: [{ field: 'createdAt', direction: 'desc' }],
        limit: 1,
      });
      expect(newest.items.map((x) => x.doc.id)).toEqual(['b2']);
      expect(newest.continuation).toBeDefined();

      const cuts = fx.store.collection<Doc>(defs.groupCuts);
      const soon = Date.now() + 60_000;
      await cuts.create({
        id: 'b2',
        machineId: 'm1',
        createdAt: '2026-01-01T00:00:02Z',
        expiresAt: soon,
      });
      await cuts.create({
        id: 'b1',
        machineId: 'm1',
        createdAt: '2026-01-01T00:00:01Z',
        expiresAt: soon + 120_000,
      });
      const ids = async () =>
        (await cuts.query({ partitionKey: 'm1', orderBy: [{ field: 'createdAt' }] })).items.map(
          (x) => x.doc.id,
        );
      expect(await ids()).toEqual(['b1', 'b2']);
      fx.advance(120_000);
      expect(await ids()).toEqual(['b1']);
    });

    it('ensure is idempotent and ping answers', async () => {
      const { store } = await make();
      const d = def();
      await store.ensure([d]);
      await store.ensure([d]);
      await store.ping();
      expect((await store.collection<Item>(d).query()).items).toEqual([]);
    });
  });
}
