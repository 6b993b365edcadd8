import { azuriteLoki } from '../../local/stack/azuriteBlobLookup';

/** A LokiJS collection named and indexed as Azurite's blobs (LokiBlobMetadataStore), in memory. */
export function azuriteBlobCollection<C>(): C {
  const Loki = azuriteLoki() as unknown as new (
    file: string,
    opts: object,
  ) => { addCollection(name: string, opts: object): C };
  return new Loki('t.db', { persistenceMethod: 'memory' }).addCollection('$BLOBS_COLLECTION$', {
    indices: ['accountName', 'containerName', 'name', 'snapshot'],
  });
}

export interface BlobKey {
  accountName: string;
  containerName: string;
  name: string;
  snapshot: string;
}

const rnd = (n: number) => Math.floor(Math.random() * n);

/** A random blob key among `names` names in 4 containers, a third of them base blobs. */
export function randomBlobKey(names: number, accounts = 2): BlobKey {
  return {
    accountName: `acct${rnd(accounts)}`,
    containerName: `c${rnd(4)}`,
    name: `b${rnd(names)}`,
    snapshot: rnd(3) ? `2026-12-06T06:${String(rnd(60)).padStart(2, '0')}:00Z` : '',
  };
}
