import { CosmosDocumentStore } from '../../../adapters/documents/cosmosDocumentStore';
import { HavenError } from '../../../core/errors';
import { sharedStack, uniqueName } from '../../support/stack';
import { documentStoreContract } from './contract';
import { expect, it } from 'vitest';

const database = uniqueName('docs');

documentStoreContract('cosmos (emulator)', async () => {
  let skew = 0;
  const { cosmosEndpoint, cosmosKey } = sharedStack();
  const store = new CosmosDocumentStore({
    endpoint: cosmosEndpoint,
    key: cosmosKey,
    database,
    now: () => Date.now() + skew,
  });
  return { store, advance: (ms) => (skew += ms) };
});

it('reports an unreachable Cosmos as transient', async () => {
  const store = new CosmosDocumentStore({
    endpoint: 'http://127.0.0.1:9',
    key: 'k',
    database: 'x',
  });
  const err = await store.ping().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HavenError);
  expect((err as HavenError).kind).toBe('transient');
});
