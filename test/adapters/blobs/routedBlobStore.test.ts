import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../../adapters/blobs/memoryBlobStore';
import { RoutedBlobStore } from '../../../adapters/blobs/routedBlobStore';
import { blobStoreContract } from './contract';

// Every method is delegated with its container: the contract holds whichever account serves it.
blobStoreContract(
  'routed, every container in the replica account',
  () => new RoutedBlobStore(new MemoryBlobStore(), new MemoryBlobStore(), () => true),
);
blobStoreContract(
  'routed, every container in the main account',
  () => new RoutedBlobStore(new MemoryBlobStore(), new MemoryBlobStore(), () => false),
);

describe('RoutedBlobStore', () => {
  const setup = async () => {
    const main = new MemoryBlobStore();
    const replicas = new MemoryBlobStore();
    const replicaContainers = new Set(['replicas', 'recovery']);
    const store = new RoutedBlobStore(main, replicas, (c) => replicaContainers.has(c));
    for (const c of ['replicas', 'recovery', 'staging']) await store.ensureContainer(c);
    return { main, replicas, store };
  };

  it('keeps each container in its own account', async () => {
    const { main, replicas, store } = await setup();
    await store.createPageBlob('replicas', 'm/d/1', 4096);
    await store.putBlockBlob('staging', 'm/d/1/000000000001', Buffer.from('batch'));
    expect(await replicas.getProperties('replicas', 'm/d/1')).toMatchObject({ kind: 'page' });
    expect(await main.getProperties('replicas', 'm/d/1')).toBeUndefined();
    expect(await main.readBlob('staging', 'm/d/1/000000000001')).toBeDefined();
    expect(await replicas.readBlob('staging', 'm/d/1/000000000001')).toBeUndefined();
  });

  it('copies a replica snapshot to a recovery base blob inside the replica account', async () => {
    const { replicas, store } = await setup();
    await store.createPageBlob('replicas', 'r', 4096);
    await store.uploadPages('replicas', 'r', 0, Buffer.alloc(512, 7));
    const snapshot = await store.createSnapshot('replicas', 'r');
    await store.copyBlob({ container: 'replicas', name: 'r', snapshot }, 'recovery', 'base');
    expect(
      (await replicas.readRange('recovery', 'base', 0, 512)).equals(Buffer.alloc(512, 7)),
    ).toBe(true);
  });

  it('refuses a server-side copy across the two accounts, and copies nothing', async () => {
    const { main, store } = await setup();
    await store.createPageBlob('replicas', 'r', 4096);
    await expect(
      store.copyBlob({ container: 'replicas', name: 'r' }, 'staging', 'copy'),
    ).rejects.toThrow(/from container 'replicas' to 'staging' would cross storage accounts/);
    const etag = (await store.getProperties('replicas', 'r'))!.etag;
    await expect(
      store.copyBlockBlobIfAbsent({ container: 'replicas', name: 'r', etag }, 'staging', 'c'),
    ).rejects.toThrow(/cross storage accounts/);
    expect(await main.list('staging', '')).toEqual([]);
  });
});
