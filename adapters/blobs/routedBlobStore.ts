import type { BlobStore } from '../../core/replication/blobPorts';

/**
 * One blob port over two storage accounts, by container: the replicas (and the base blobs
 * recovery copies from their snapshots, which a managed disk imports through the same account)
 * in one account, everything else (staging, claim-check uploads, indexes) in the other. In Azure
 * a replica under heavy random churn belongs in a premium page-blob account, whose per-blob IOPS
 * follow its size tier where a standard page blob takes ~500 writes/s, and such an account holds
 * page blobs only; it also keeps hydrate's page writes from queueing ahead of the staging writes
 * a point's durability waits for (locally: a second emulator process).
 *
 * A server-side copy stays inside one account: one across the two is a bug (the containers a
 * copy joins are routed together), thrown as such, not as a kind a caller would handle.
 */
export class RoutedBlobStore implements BlobStore {
  constructor(
    private readonly main: BlobStore,
    private readonly replicas: BlobStore,
    private readonly inReplicaAccount: (container: string) => boolean,
  ) {}

  private of(container: string): BlobStore {
    return this.inReplicaAccount(container) ? this.replicas : this.main;
  }

  /** The account both ends of a server-side copy are in. */
  private both(from: string, to: string): BlobStore {
    const store = this.of(from);
    if (store !== this.of(to))
      throw new Error(
        `A server-side copy from container '${from}' to '${to}' would cross storage accounts.`,
      );
    return store;
  }

  ensureContainer: BlobStore['ensureContainer'] = (c) => this.of(c).ensureContainer(c);
  createPageBlob: BlobStore['createPageBlob'] = (c, ...a) => this.of(c).createPageBlob(c, ...a);
  uploadPages: BlobStore['uploadPages'] = (c, ...a) => this.of(c).uploadPages(c, ...a);
  clearPages: BlobStore['clearPages'] = (c, ...a) => this.of(c).clearPages(c, ...a);
  readRange: BlobStore['readRange'] = (c, ...a) => this.of(c).readRange(c, ...a);
  readHead: BlobStore['readHead'] = (c, ...a) => this.of(c).readHead(c, ...a);
  createSnapshot: BlobStore['createSnapshot'] = (c, ...a) => this.of(c).createSnapshot(c, ...a);
  deleteSnapshot: BlobStore['deleteSnapshot'] = (c, ...a) => this.of(c).deleteSnapshot(c, ...a);
  acquireLease: BlobStore['acquireLease'] = (c, ...a) => this.of(c).acquireLease(c, ...a);
  renewLease: BlobStore['renewLease'] = (c, ...a) => this.of(c).renewLease(c, ...a);
  releaseLease: BlobStore['releaseLease'] = (c, ...a) => this.of(c).releaseLease(c, ...a);
  breakLease: BlobStore['breakLease'] = (c, ...a) => this.of(c).breakLease(c, ...a);
  putBlockBlobIfAbsent: BlobStore['putBlockBlobIfAbsent'] = (c, ...a) =>
    this.of(c).putBlockBlobIfAbsent(c, ...a);
  putBlockBlob: BlobStore['putBlockBlob'] = (c, ...a) => this.of(c).putBlockBlob(c, ...a);
  readBlob: BlobStore['readBlob'] = (c, n) => this.of(c).readBlob(c, n);
  getProperties: BlobStore['getProperties'] = (c, ...a) => this.of(c).getProperties(c, ...a);
  setMetadata: BlobStore['setMetadata'] = (c, ...a) => this.of(c).setMetadata(c, ...a);
  deleteBlob: BlobStore['deleteBlob'] = (c, ...a) => this.of(c).deleteBlob(c, ...a);
  list: BlobStore['list'] = (c, ...a) => this.of(c).list(c, ...a);
  readUrl: BlobStore['readUrl'] = (c, ...a) => this.of(c).readUrl(c, ...a);

  copyBlockBlobIfAbsent: BlobStore['copyBlockBlobIfAbsent'] = async (source, c, ...a) =>
    this.both(source.container, c).copyBlockBlobIfAbsent(source, c, ...a);

  copyBlob: BlobStore['copyBlob'] = async (source, c, n) =>
    this.both(source.container, c).copyBlob(source, c, n);
}
