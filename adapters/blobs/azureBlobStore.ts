import {
  BlobServiceClient,
  type BlobClient,
  type ContainerClient,
  type PageBlobClient,
} from '@azure/storage-blob';
import type {
  BlobListItem,
  BlobProps,
  BlobStore,
  HeadRead,
  StoredBlob,
} from '../../core/replication/blobPorts';
import { copyIfAbsent, copyOver } from './blobCopies';
import { ClientCache } from './clientCache';
import { acquireLease, breakLease, releaseLease, renewLease } from './blobLeases';
import { propertiesOf, readHead, readRange, readWhole } from './blobReads';
import { pemText } from '../identity/tokenCredential';
import { PageWriter, pageWriterFor } from './pageWriter';
import { callStorage, isAlreadyExists, isStatus, mapStorageError } from './storageErrors';
import {
  BlobSasSigner,
  blobServiceOf,
  STORAGE_RETRIES,
  type StorageAccess,
  type StorageBounds,
} from './storageAccess';

/** Blob port over `@azure/storage-blob` (Azure Storage and Azurite). */
export class AzureBlobStore implements BlobStore {
  private readonly svc: BlobServiceClient;
  private readonly sas: BlobSasSigner;
  private readonly ensured = new Set<string>();
  private readonly containers = new ClientCache<ContainerClient>(1024);
  private readonly pageBlobs = new ClientCache<PageBlobClient>(256);
  /** Page writes, hydrate's many small requests, go around the SDK's per-request cost. */
  private readonly writer: PageWriter;
  private readonly pageUrls = new ClientCache<URL>(256);
  /** A download's body that broke off is asked for again as many times as a call is. */
  private readonly bodyRetries: number;

  /** `access`: a connection string (account key) or an account URL and a token credential. */
  constructor(
    access: StorageAccess | string,
    private readonly clock: () => number = Date.now,
    { retries = STORAGE_RETRIES, bodyIdleMs }: StorageBounds = {},
  ) {
    this.svc = blobServiceOf(access, { retryOptions: retries, bodyIdleMs });
    this.sas = new BlobSasSigner(this.svc, this.clock);
    const ca = typeof access === 'string' || 'connection' in access ? undefined : access.caCert;
    this.writer = pageWriterFor(this.svc, retries, pemText(ca));
    this.bodyRetries = retries.maxTries - 1;
  }

  private c(container: string): ContainerClient {
    return this.containers.get(container, () => this.svc.getContainerClient(container));
  }

  /** Page blobs (replicas, indexes) take many requests each: their clients are kept. */
  private page(container: string, name: string): PageBlobClient {
    return this.pageBlobs.get(`${container}/${name}`, () =>
      this.c(container).getPageBlobClient(name),
    );
  }

  private blob(container: string, name: string): BlobClient {
    return this.c(container).getBlobClient(name);
  }

  async ensureContainer(container: string): Promise<void> {
    if (this.ensured.has(container)) return;
    await callStorage(() => this.c(container).createIfNotExists());
    this.ensured.add(container);
  }

  async createPageBlob(
    container: string,
    name: string,
    size: number,
    metadata?: Record<string, string>,
  ): Promise<'created' | 'exists'> {
    try {
      await callStorage(() =>
        this.page(container, name).create(size, { metadata, conditions: { ifNoneMatch: '*' } }),
      );
      return 'created';
    } catch (e) {
      if (isAlreadyExists(e)) return 'exists';
      throw e;
    }
  }

  async uploadPages(
    container: string,
    name: string,
    offset: number,
    data: Uint8Array,
    leaseId?: string,
  ): Promise<void> {
    const body = Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const key = `${container}/${name}`;
    const url = this.pageUrls.get(key, () => new URL(this.page(container, name).url));
    await callStorage(() => this.writer.put(url, offset, body, leaseId));
  }

  async clearPages(
    container: string,
    name: string,
    offset: number,
    length: number,
    leaseId?: string,
  ): Promise<void> {
    await callStorage(() =>
      this.page(container, name).clearPages(offset, length, {
        conditions: leaseId ? { leaseId } : undefined,
      }),
    );
  }

  async readRange(
    container: string,
    name: string,
    offset: number,
    length: number,
    snapshot?: string,
    ifMatch?: string,
  ): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    const blob = this.blob(container, name);
    const from = snapshot ? blob.withSnapshot(snapshot) : blob;
    return readRange(from, offset, length, this.bodyRetries, ifMatch);
  }

  async readHead(container: string, name: string, length: number): Promise<HeadRead | undefined> {
    return readHead(this.blob(container, name), length, this.bodyRetries);
  }

  async createSnapshot(
    container: string,
    name: string,
    metadata?: Record<string, string>,
  ): Promise<string> {
    const r = await callStorage(() => this.blob(container, name).createSnapshot({ metadata }));
    return r.snapshot!;
  }

  async deleteSnapshot(container: string, name: string, snapshot: string): Promise<void> {
    try {
      await callStorage(() => this.blob(container, name).withSnapshot(snapshot).delete());
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }

  async acquireLease(
    container: string,
    name: string,
    durationSec: number,
    proposedLeaseId?: string,
  ): Promise<string | undefined> {
    return acquireLease(this.blob(container, name), durationSec, proposedLeaseId);
  }

  async renewLease(container: string, name: string, leaseId: string): Promise<void> {
    await renewLease(this.blob(container, name), leaseId);
  }

  async releaseLease(container: string, name: string, leaseId: string): Promise<void> {
    await releaseLease(this.blob(container, name), leaseId);
  }

  async breakLease(container: string, name: string, breakPeriodSec: number): Promise<void> {
    await breakLease(this.blob(container, name), breakPeriodSec);
  }

  async putBlockBlobIfAbsent(
    container: string,
    name: string,
    data: Uint8Array,
    metadata?: Record<string, string>,
  ): Promise<'created' | 'exists'> {
    try {
      await callStorage(() =>
        this.c(container)
          .getBlockBlobClient(name)
          .upload(data, data.byteLength, { metadata, conditions: { ifNoneMatch: '*' } }),
      );
      return 'created';
    } catch (e) {
      // `callStorage` maps 409/412 to conflict (status kept); this method answers 'exists'.
      if (isAlreadyExists(e)) return 'exists';
      throw e;
    }
  }

  async copyBlockBlobIfAbsent(
    source: { container: string; name: string; etag: string },
    container: string,
    name: string,
    metadata?: Record<string, string>,
  ): Promise<'created' | 'exists' | 'source-changed'> {
    const from = this.blob(source.container, source.name);
    return copyIfAbsent(from, source.etag, this.blob(container, name), metadata);
  }

  async copyBlob(
    source: { container: string; name: string; snapshot?: string },
    container: string,
    name: string,
  ): Promise<void> {
    const src = this.blob(source.container, source.name);
    const from = source.snapshot ? src.withSnapshot(source.snapshot) : src;
    const what = `${source.container}/${source.name}`;
    await copyOver(from, this.blob(container, name), what);
  }

  async putBlockBlob(
    container: string,
    name: string,
    data: Uint8Array,
    metadata?: Record<string, string>,
  ): Promise<void> {
    await callStorage(() =>
      this.c(container).getBlockBlobClient(name).upload(data, data.byteLength, { metadata }),
    );
  }

  async readBlob(container: string, name: string): Promise<StoredBlob | undefined> {
    return readWhole(this.blob(container, name), this.bodyRetries);
  }

  async getProperties(
    container: string,
    name: string,
    snapshot?: string,
  ): Promise<BlobProps | undefined> {
    const blob = this.blob(container, name);
    return propertiesOf(snapshot ? blob.withSnapshot(snapshot) : blob);
  }

  async setMetadata(
    container: string,
    name: string,
    metadata: Record<string, string>,
  ): Promise<void> {
    await callStorage(() => this.blob(container, name).setMetadata(metadata));
  }

  async deleteBlob(container: string, name: string, leaseId?: string): Promise<boolean> {
    try {
      await callStorage(() =>
        this.c(container)
          .getBlobClient(name)
          .delete({ deleteSnapshots: 'include', conditions: leaseId ? { leaseId } : undefined }),
      );
      return true;
    } catch (e) {
      if (isStatus(e, 404)) return false;
      throw e;
    }
  }

  async list(
    container: string,
    prefix: string,
    opts: { includeSnapshots?: boolean; max?: number } = {},
  ): Promise<BlobListItem[]> {
    const out: BlobListItem[] = [];
    try {
      const it = this.c(container).listBlobsFlat({
        prefix,
        includeMetadata: true,
        includeSnapshots: opts.includeSnapshots,
      });
      for await (const b of it) {
        out.push({
          name: b.name,
          size: b.properties.contentLength ?? 0,
          metadata: b.metadata ?? {},
          ...(b.snapshot ? { snapshot: b.snapshot } : {}),
        });
        if (opts.max !== undefined && out.length >= opts.max) break;
      }
    } catch (e) {
      if (isStatus(e, 404)) return out; // container not created yet: nothing listed
      throw mapStorageError(e);
    }
    return out;
  }

  async readUrl(
    container: string,
    name: string,
    ttlSec: number,
    snapshot?: string,
  ): Promise<string> {
    return this.sas.readUrl(this.blob(container, name), container, name, ttlSec, snapshot);
  }
}
