import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { BlobStore } from '../../../core/replication/blobPorts';
import { uniqueName } from '../../support/stack';

/** One suite, every implementation of the blob port (docs/conventions.md: contract tests). */
export function blobStoreContract(
  label: string,
  make: () => BlobStore,
  /** `false`: the endpoint cannot check the read URL of a snapshot (only its form is checked). */
  opts: { snapshotUrlsChecked?: boolean } = {},
): void {
  describe(`BlobStore contract: ${label}`, () => {
    const setup = async () => {
      const store = make();
      const container = uniqueName('c');
      await store.ensureContainer(container);
      await store.ensureContainer(container); // idempotent
      return { store, container };
    };

    it('reads a range only at the ETag it was told (a replaced blob is a 412 conflict)', async () => {
      const { store, container } = await setup();
      await store.putBlockBlob(container, 'claim', randomBytes(4096));
      const seen = (await store.getProperties(container, 'claim'))!;
      expect((await store.readRange(container, 'claim', 0, 100, undefined, seen.etag)).length).toBe(
        100,
      );
      await store.putBlockBlob(container, 'claim', randomBytes(4096)); // swapped behind our back
      const err = await store.readRange(container, 'claim', 0, 100, undefined, seen.etag).then(
        () => undefined,
        (e: unknown) => e as { kind?: string; details?: { status?: number } },
      );
      expect(err?.kind).toBe('conflict');
      expect(err?.details?.status).toBe(412);
    });

    it('reads the start of a blob with its size, kind and ETag in one call; a missing blob is undefined', async () => {
      const { store, container } = await setup();
      const data = randomBytes(10_000);
      await store.putBlockBlob(container, 'claim', data);
      const props = (await store.getProperties(container, 'claim'))!;
      const head = (await store.readHead(container, 'claim', 4096))!;
      expect(head.data.equals(data.subarray(0, 4096))).toBe(true);
      expect(head).toMatchObject({ size: 10_000, kind: 'block', etag: props.etag });
      const whole = (await store.readHead(container, 'claim', 64_000))!;
      expect(whole.data.equals(data)).toBe(true); // shorter than asked: the blob is shorter
      expect(whole.size).toBe(10_000);
      await store.createPageBlob(container, 'p', 8192);
      expect(await store.readHead(container, 'p', 512)).toMatchObject({ size: 8192, kind: 'page' });
      expect(await store.readHead(container, 'missing', 512)).toBeUndefined();
    });

    it('creates a zero-filled page blob once, writes, clears and reads ranges', async () => {
      const { store, container } = await setup();
      expect(await store.createPageBlob(container, 'd/a.vhd', 8192, { k: 'v' })).toBe('created');
      expect(await store.createPageBlob(container, 'd/a.vhd', 8192)).toBe('exists');
      const props = await store.getProperties(container, 'd/a.vhd');
      expect(props).toMatchObject({ size: 8192, kind: 'page', metadata: { k: 'v' } });
      expect((await store.readRange(container, 'd/a.vhd', 0, 8192)).every((b) => b === 0)).toBe(
        true,
      );
      const data = randomBytes(2048);
      await store.uploadPages(container, 'd/a.vhd', 1024, data);
      expect(await store.readRange(container, 'd/a.vhd', 1024, 2048)).toEqual(data);
      await store.clearPages(container, 'd/a.vhd', 1536, 512);
      const back = await store.readRange(container, 'd/a.vhd', 1024, 2048);
      expect(back.subarray(0, 512)).toEqual(data.subarray(0, 512));
      expect(back.subarray(512, 1024).every((b) => b === 0)).toBe(true);
      expect(back.subarray(1024)).toEqual(data.subarray(1024));
    });

    it('accepts a 4 MiB page write', async () => {
      const { store, container } = await setup();
      await store.createPageBlob(container, 'big', 8 * 1024 * 1024);
      const data = randomBytes(4 * 1024 * 1024);
      await store.uploadPages(container, 'big', 4 * 1024 * 1024, data);
      expect(
        (await store.readRange(container, 'big', 4 * 1024 * 1024, data.length)).equals(data),
      ).toBe(true);
    });

    it('snapshots keep the bytes of their moment; deleting one is idempotent', async () => {
      const { store, container } = await setup();
      await store.createPageBlob(container, 'r', 4096);
      await store.uploadPages(container, 'r', 0, Buffer.alloc(512, 7));
      const s1 = await store.createSnapshot(container, 'r', { point: 'p1' });
      await store.uploadPages(container, 'r', 0, Buffer.alloc(512, 9));
      const s2 = await store.createSnapshot(container, 'r');
      expect(s1).not.toBe(s2);
      expect((await store.readRange(container, 'r', 0, 512, s1)).every((b) => b === 7)).toBe(true);
      expect((await store.readRange(container, 'r', 0, 512, s2)).every((b) => b === 9)).toBe(true);
      expect((await store.getProperties(container, 'r', s1))?.metadata).toMatchObject({
        point: 'p1',
      });
      const snaps = (await store.list(container, 'r', { includeSnapshots: true })).filter(
        (i) => i.snapshot,
      );
      expect(snaps.map((s) => s.snapshot).sort()).toEqual([s1, s2].sort());
      await store.deleteSnapshot(container, 'r', s1);
      await store.deleteSnapshot(container, 'r', s1);
      expect(await store.getProperties(container, 'r', s1)).toBeUndefined();
      expect((await store.readRange(container, 'r', 0, 512, s2)).every((b) => b === 9)).toBe(true);
    });

    it('a lease makes one writer: others are refused until release or break', async () => {
      const { store, container } = await setup();
      await store.createPageBlob(container, 'r', 4096);
      const a = await store.acquireLease(container, 'r', 30);
      expect(a).toBeTruthy();
      expect(await store.acquireLease(container, 'r', 30)).toBeUndefined();
      expect((await store.getProperties(container, 'r'))?.leaseState).toBe('leased');
      await expect(
        store.uploadPages(container, 'r', 0, Buffer.alloc(512, 1)),
      ).rejects.toMatchObject({ kind: 'conflict' });
      await expect(
        store.uploadPages(
          container,
          'r',
          0,
          Buffer.alloc(512, 1),
          'e0c7b4a4-0000-4000-8000-000000000000',
        ),
      ).rejects.toMatchObject({ kind: 'conflict' });
      await store.uploadPages(container, 'r', 0, Buffer.alloc(512, 1), a);
      await store.clearPages(container, 'r', 0, 512, a);
      await store.renewLease(container, 'r', a!);
      await store.releaseLease(container, 'r', a!);
      await store.releaseLease(container, 'r', a!);
      const b = await store.acquireLease(container, 'r', 15);
      expect(b).toBeTruthy();
      await store.breakLease(container, 'r', 0);
      const c = await store.acquireLease(container, 'r', 15);
      expect(c).toBeTruthy();
      await expect(store.renewLease(container, 'r', b!)).rejects.toMatchObject({
        kind: 'conflict',
      });
      await store.releaseLease(container, 'r', c!);
    });

    it('block blobs: create only if absent, read, metadata, delete, list by prefix', async () => {
      const { store, container } = await setup();
      expect(
        await store.putBlockBlobIfAbsent(container, 'm/d/1/000000000001', Buffer.from('one'), {
          sha256: 'a',
        }),
      ).toBe('created');
      expect(
        await store.putBlockBlobIfAbsent(container, 'm/d/1/000000000001', Buffer.from('two'), {
          sha256: 'b',
        }),
      ).toBe('exists');
      const got = await store.readBlob(container, 'm/d/1/000000000001');
      expect(got?.data.toString()).toBe('one');
      expect(got?.metadata).toEqual({ sha256: 'a' });
      await store.setMetadata(container, 'm/d/1/000000000001', { sha256: 'a', x: 'y' });
      expect((await store.getProperties(container, 'm/d/1/000000000001'))?.metadata).toEqual({
        sha256: 'a',
        x: 'y',
      });
      await store.putBlockBlobIfAbsent(container, 'm/d/1/000000000002', Buffer.from('2'));
      await store.putBlockBlobIfAbsent(container, 'm/e/1/000000000001', Buffer.from('3'));
      await store.putBlockBlob(container, 'm/e/1/000000000001', Buffer.from('4'));
      expect((await store.readBlob(container, 'm/e/1/000000000001'))?.data.toString()).toBe('4');
      expect((await store.list(container, 'm/d/')).map((i) => i.name)).toEqual([
        'm/d/1/000000000001',
        'm/d/1/000000000002',
      ]);
      expect((await store.list(container, 'm/', { max: 1 })).length).toBe(1);
      expect(await store.deleteBlob(container, 'm/d/1/000000000001')).toBe(true);
      expect(await store.deleteBlob(container, 'm/d/1/000000000001')).toBe(false);
      expect(await store.readBlob(container, 'm/d/1/000000000001')).toBeUndefined();
      expect(await store.getProperties(container, 'nope')).toBeUndefined();
      expect(await store.list(uniqueName('absent'), '')).toEqual([]);
    });

    it('copies a block blob server-side only if absent and only from the expected source version', async () => {
      const { store, container } = await setup();
      const body = randomBytes(2 * 1024 * 1024 + 512);
      await store.putBlockBlob(container, 'in/a', body, { x: 'source' });
      const etag = (await store.getProperties(container, 'in/a'))!.etag;
      const src = { container, name: 'in/a', etag };
      expect(await store.copyBlockBlobIfAbsent(src, container, 'st/1', { sha256: 's' })).toBe(
        'created',
      );
      const got = await store.readBlob(container, 'st/1');
      expect(got?.data.equals(body)).toBe(true);
      expect(got?.metadata).toEqual({ sha256: 's' });
      // The target is never overwritten.
      expect(await store.copyBlockBlobIfAbsent(src, container, 'st/1', { sha256: 't' })).toBe(
        'exists',
      );
      expect((await store.readBlob(container, 'st/1'))?.metadata).toEqual({ sha256: 's' });
      // The source changed since it was read: nothing is copied.
      await store.putBlockBlob(container, 'in/a', Buffer.from('tampered'));
      expect(await store.copyBlockBlobIfAbsent(src, container, 'st/2')).toBe('source-changed');
      expect(await store.getProperties(container, 'st/2')).toBeUndefined();
      // Source gone.
      await store.deleteBlob(container, 'in/a');
      expect(
        await store.copyBlockBlobIfAbsent({ ...src, name: 'in/none' }, container, 'st/3'),
      ).toBe('source-changed');
      // The copy outlives its source.
      expect((await store.readBlob(container, 'st/1'))?.data.equals(body)).toBe(true);
    });

    it('copies a page blob snapshot server-side to a new page blob (the recovery base blob)', async () => {
      const { store, container } = await setup();
      await store.createPageBlob(container, 'r/g1.vhd', 3 * 1024 * 1024);
      const before = randomBytes(4096);
      await store.uploadPages(container, 'r/g1.vhd', 1024 * 1024, before);
      const snap = await store.createSnapshot(container, 'r/g1.vhd');
      await store.uploadPages(container, 'r/g1.vhd', 1024 * 1024, randomBytes(4096));
      await store.copyBlob({ container, name: 'r/g1.vhd', snapshot: snap }, container, 'base.vhd');
      const props = await store.getProperties(container, 'base.vhd');
      expect(props).toMatchObject({ size: 3 * 1024 * 1024, kind: 'page' });
      expect(await store.readRange(container, 'base.vhd', 1024 * 1024, 4096)).toEqual(before);
      expect((await store.readRange(container, 'base.vhd', 0, 4096)).every((b) => b === 0)).toBe(
        true,
      );
      await expect(
        store.copyBlob({ container, name: 'missing' }, container, 'x'),
      ).rejects.toMatchObject({ kind: 'not-found' });
    });

    it('the bytes a read returns belong to the caller: changing them changes no stored blob', async () => {
      const { store, container } = await setup();
      const data = randomBytes(8192);
      await store.putBlockBlob(container, 'mine', data);
      for (const read of [
        async () => (await store.readBlob(container, 'mine'))!.data,
        async () => (await store.readHead(container, 'mine', data.length))!.data,
      ]) {
        (await read()).fill(0);
        expect((await store.readBlob(container, 'mine'))!.data.equals(data)).toBe(true);
      }
    });

    it('reads large and empty block blobs exactly', async () => {
      const { store, container } = await setup();
      const big = randomBytes(3 * 1024 * 1024 + 777);
      await store.putBlockBlobIfAbsent(container, 'big', big, { a: 'b' });
      const got = await store.readBlob(container, 'big');
      expect(got?.data.equals(big)).toBe(true);
      expect(got?.metadata).toEqual({ a: 'b' });
      await store.putBlockBlobIfAbsent(container, 'empty', Buffer.alloc(0));
      expect((await store.readBlob(container, 'empty'))?.data.length).toBe(0);
    });

    it('deleting a page blob takes its snapshots with it', async () => {
      const { store, container } = await setup();
      await store.createPageBlob(container, 'r', 1024);
      await store.createSnapshot(container, 'r');
      expect(await store.deleteBlob(container, 'r')).toBe(true);
      expect(await store.list(container, 'r', { includeSnapshots: true })).toEqual([]);
    });

    it('gives a read URL for a snapshot', async () => {
      const { store, container } = await setup();
      await store.createPageBlob(container, 'r', 1024);
      await store.uploadPages(container, 'r', 0, Buffer.alloc(512, 5));
      const s = await store.createSnapshot(container, 'r');
      const url = await store.readUrl(container, 'r', 300, s);
      expect(url).toContain('snapshot=');
      if (url.startsWith('http') && opts.snapshotUrlsChecked !== false) {
        const res = await fetch(url, { headers: { range: 'bytes=0-511' } });
        expect(res.status).toBe(206);
        expect(Buffer.from(await res.arrayBuffer()).every((b) => b === 5)).toBe(true);
        const put = await fetch(url, {
          method: 'PUT',
          headers: { 'x-ms-blob-type': 'BlockBlob' },
          body: 'x',
        });
        expect(put.status).toBeGreaterThanOrEqual(400);
      }
    });
  });
}
