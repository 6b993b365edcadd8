import { describe, expect, it } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import { CosmosClient } from '@azure/cosmos';
import { sharedStack, uniqueName } from '../../support/stack';

describe('shared emulators', () => {
  it('Azurite stores and snapshots a page blob', async () => {
    const svc = BlobServiceClient.fromConnectionString(sharedStack().storageConnection);
    const container = svc.getContainerClient(uniqueName('t'));
    await container.create();
    const blob = container.getPageBlobClient('disk');
    await blob.create(4096);
    await blob.uploadPages(Buffer.alloc(512, 7), 512, 512);
    const snap = await blob.createSnapshot();
    await blob.clearPages(512, 512);
    const at = await blob.withSnapshot(snap.snapshot!).downloadToBuffer(512, 512);
    expect(at.every((b) => b === 7)).toBe(true);
    const now = await blob.downloadToBuffer(512, 512);
    expect(now.every((b) => b === 0)).toBe(true);
  });

  it('the Cosmos emulator refuses a stale ETag', async () => {
    const { cosmosEndpoint, cosmosKey } = sharedStack();
    const client = new CosmosClient({
      endpoint: cosmosEndpoint,
      key: cosmosKey,
      connectionPolicy: { enableEndpointDiscovery: false },
    });
    const { database } = await client.databases.createIfNotExists({ id: uniqueName('db') });
    const { container } = await database.containers.createIfNotExists({
      id: 'c',
      partitionKey: '/pk',
    });
    const { resource } = await container.items.create({ id: 'a', pk: 'a', v: 1 });
    await container.item('a', 'a').replace({ id: 'a', pk: 'a', v: 2 });
    await expect(
      container
        .item('a', 'a')
        .replace(
          { id: 'a', pk: 'a', v: 3 },
          { accessCondition: { type: 'IfMatch', condition: resource!._etag } },
        ),
    ).rejects.toMatchObject({ code: 412 });
  });
});
