import { MemoryDocumentStore } from '../../../adapters/documents/memoryDocumentStore';
import { documentStoreContract } from './contract';

documentStoreContract('memory', async () => {
  let skew = 0;
  const store = new MemoryDocumentStore(() => Date.now() + skew);
  return { store, advance: (ms) => (skew += ms) };
});
