import { describe, expect, it } from 'vitest';
import { AzureBlobStore } from '../../../adapters/blobs/azureBlobStore';
import { sharedStack } from '../../support/stack';
import { blobStoreContract } from './contract';

blobStoreContract('Azure (Azurite)', () => new AzureBlobStore(sharedStack().storageConnection));

describe('AzureBlobStore outage', () => {
  it('maps an unreachable endpoint to a transient error', async () => {
    const store = new AzureBlobStore(
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1',
    );
    await expect(store.readBlob('c', 'x')).rejects.toMatchObject({
      kind: 'transient',
      retryable: true,
    });
  });
});
