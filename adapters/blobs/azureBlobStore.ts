import {
  BlobSASPermissions,
  BlobServiceClient,
  RestError,
  type ContainerClient,
} from '@azure/storage-blob';
import { conflict, HavenError, notFound, transient } from '../../core/errors';
import type {
  BlobListItem,
  BlobProps,
  BlobStore,
  HeadRead,
  StoredBlob,
} from '../../core/replication/blobPorts';
import { BlobSasSigner, blobServiceOf, type StorageAccess } from './storageAccess';

/** Blob port over `@azure/storage-blob` (Azure Storage and Azurite). */
export class AzureBlobStore implements BlobStore {
  private readonly svc: BlobServiceClient;
  private readonly sas: BlobSasSigner;
  private readonly ensured = new Set<string>();

  /** `access`: a connection string (account key) or an account URL and a token credential. */
  constructor(
    access: StorageAccess | string,
    private readonly clock: () => number = Date.now,
  ) {
    // Few, short retries: a trigger that fails is retried by the host anyway, and a hanging
    // call holds the replica lease.
    this.svc = blobServiceOf(access, {
      retryOptions: {
        maxTries: 3,
        retryDelayInMs: 200,
        maxRetryDelayInMs: 2000,
        tryTimeoutInMs: 60_000,
      },
    });
    this.sas = new BlobSasSigner(this.svc, this.clock);
  }

  private c(container: string): ContainerClient {
    return this.svc.getContainerClient(container);
  }

  async ensureContainer(container: string): Promise<void> {
    if (this.ensured.has(container)) return;
    await call(() => this.c(container).createIfNotExists());
    this.ensured.add(container);
  }

  async createPageBlob(
    container: string,
    name: string,
    size: number,
    metadata?: Record<string, string>,
  ): Promise<'created' | 'exists'> {
    try {
      await call(() =>
        this.c(container)
          .getPageBlobClient(name)
          .create(size, { metadata, conditions: { ifNoneMatch: '*' } }),
      );
      return 'created';
    } catch (e) {
      if (isStatus(e, 409) || isStatus(e, 412)) return 'exists';
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
    await call(() =>
      this.c(container)
        .getPageBlobClient(name)
        .uploadPages(body, offset, body.length, { conditions: leaseId ? { leaseId } : undefined }),
    );
  }

  async clearPages(
    container: string,
    name: string,
    offset: number,
    length: number,
    leaseId?: string,
  ): Promise<void> {
    await call(() =>
      this.c(container)
        .getPageBlobClient(name)
        .clearPages(offset, length, { conditions: leaseId ? { leaseId } : undefined }),
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
    let blob = this.c(container).getBlobClient(name);
    if (snapshot) blob = blob.withSnapshot(snapshot);
    const out = Buffer.alloc(length);
    await call(() =>
      blob.downloadToBuffer(out, offset, length, {
        concurrency: 4,
        ...(ifMatch ? { conditions: { ifMatch } } : {}),
      }),
    );
    return out;
  }

  async readHead(container: string, name: string, length: number): Promise<HeadRead | undefined> {
    const blob = this.c(container).getBlobClient(name);
    try {
      // One ranged GET: its Content-Range carries the blob's size, and the ETag and type come
      // with it. The body is one stream (ranged reads in parallel would be a request each).
      const r = await call(() => blob.download(0, length));
      const chunks: Buffer[] = [];
      for await (const chunk of r.readableStreamBody as AsyncIterable<Buffer>) chunks.push(chunk);
      const total = /\/(\d+)$/.exec(r.contentRange ?? '')?.[1];
      return {
        data: Buffer.concat(chunks),
        size: total !== undefined ? Number(total) : (r.contentLength ?? 0),
        etag: r.etag ?? '',
        kind: r.blobType === 'PageBlob' ? 'page' : r.blobType === 'AppendBlob' ? 'append' : 'block',
      };
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      // A range from 0 of an empty blob is "unsatisfiable": the blob is there and holds nothing.
      if (isStatus(e, 416)) {
        const p = await this.getProperties(container, name);
        return p ? { data: Buffer.alloc(0), size: p.size, etag: p.etag, kind: p.kind } : undefined;
      }
      throw e;
    }
  }

  async createSnapshot(
    container: string,
    name: string,
    metadata?: Record<string, string>,
  ): Promise<string> {
    const r = await call(() => this.c(container).getBlobClient(name).createSnapshot({ metadata }));
    return r.snapshot!;
  }

  async deleteSnapshot(container: string, name: string, snapshot: string): Promise<void> {
    try {
      await call(() => this.c(container).getBlobClient(name).withSnapshot(snapshot).delete());
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
    const lease = this.c(container).getBlobClient(name).getBlobLeaseClient(proposedLeaseId);
    try {
      const r = await call(() => lease.acquireLease(durationSec));
      return r.leaseId ?? lease.leaseId;
    } catch (e) {
      if (isStatus(e, 409)) return undefined;
      throw e;
    }
  }

  async renewLease(container: string, name: string, leaseId: string): Promise<void> {
    await call(() =>
      this.c(container).getBlobClient(name).getBlobLeaseClient(leaseId).renewLease(),
    );
  }

  async releaseLease(container: string, name: string, leaseId: string): Promise<void> {
    try {
      await call(() =>
        this.c(container).getBlobClient(name).getBlobLeaseClient(leaseId).releaseLease(),
      );
    } catch (e) {
      // Already released, expired and taken, or blob gone: nothing of ours to release.
      if (e instanceof HavenError && e.kind === 'conflict') return;
      if (isStatus(e, 404)) return;
      throw e;
    }
  }

  async breakLease(container: string, name: string, breakPeriodSec: number): Promise<void> {
    try {
      await call(() =>
        this.c(container).getBlobClient(name).getBlobLeaseClient().breakLease(breakPeriodSec),
      );
    } catch (e) {
      if (e instanceof HavenError && e.kind === 'conflict') return; // no lease to break
      throw e;
    }
  }

  async putBlockBlobIfAbsent(
    container: string,
    name: string,
    data: Uint8Array,
    metadata?: Record<string, string>,
  ): Promise<'created' | 'exists'> {
    try {
      await call(() =>
        this.c(container)
          .getBlockBlobClient(name)
          .upload(data, data.byteLength, { metadata, conditions: { ifNoneMatch: '*' } }),
      );
      return 'created';
    } catch (e) {
      if (isStatus(e, 409) || isStatus(e, 412)) return 'exists';
      // `call` maps 409/412 to conflict; undo for this method's contract.
      if (
        e instanceof HavenError &&
        e.kind === 'conflict' &&
        (e.details?.status === 409 || e.details?.status === 412)
      )
        return 'exists';
      throw e;
    }
  }

  async copyBlockBlobIfAbsent(
    source: { container: string; name: string; etag: string },
    container: string,
    name: string,
    metadata?: Record<string, string>,
  ): Promise<'created' | 'exists' | 'source-changed'> {
    // Same account: authorized by our own credential, no bytes through this process (Azurite
    // shares the source's extents; Azure copies inside the storage service).
    const from = this.c(source.container).getBlobClient(source.name).url;
    try {
      const poller = await this.c(container)
        .getBlobClient(name)
        .beginCopyFromURL(from, {
          metadata,
          conditions: { ifNoneMatch: '*' },
          sourceConditions: { ifMatch: source.etag },
          intervalInMs: 100,
        });
      const r = await poller.pollUntilDone();
      if (r.copyStatus && r.copyStatus !== 'success')
        throw transient(`copy of ${source.name} ended ${r.copyStatus}`);
      return 'created';
    } catch (e) {
      const status = (e as RestError).statusCode;
      const code = (e as RestError).code ?? '';
      // Target exists: 409 BlobAlreadyExists (a pending copy onto it is another matter).
      if (status === 409 && code !== 'PendingCopyOperation') return 'exists';
      if (status === 404) return 'source-changed'; // source gone
      if (status === 412) {
        // Azure says SourceConditionNotMet, Azurite ConditionNotMet for both conditions: the
        // target's existence tells them apart.
        if (code === 'SourceConditionNotMet') return 'source-changed';
        return (await this.getProperties(container, name)) ? 'exists' : 'source-changed';
      }
      throw mapError(e);
    }
  }

  async copyBlob(
    source: { container: string; name: string; snapshot?: string },
    container: string,
    name: string,
  ): Promise<void> {
    // Same account: authorized by our own credential; Azure copies inside the service (page
    // ranges only, so a sparse replica copies fast), Azurite shares the source's extents.
    const src = this.c(source.container).getBlobClient(source.name);
    const from = (source.snapshot ? src.withSnapshot(source.snapshot) : src).url;
    try {
      const poller = await this.c(container)
        .getBlobClient(name)
        .beginCopyFromURL(from, { intervalInMs: 100 });
      const r = await poller.pollUntilDone();
      if (r.copyStatus && r.copyStatus !== 'success')
        throw transient(`copy of ${source.name} ended ${r.copyStatus}`);
    } catch (e) {
      if ((e as RestError).statusCode === 404)
        throw notFound('Blob', `${source.container}/${source.name}`);
      throw mapError(e);
    }
  }

  async putBlockBlob(
    container: string,
    name: string,
    data: Uint8Array,
    metadata?: Record<string, string>,
  ): Promise<void> {
    await call(() =>
      this.c(container).getBlockBlobClient(name).upload(data, data.byteLength, { metadata }),
    );
  }

  async readBlob(container: string, name: string): Promise<StoredBlob | undefined> {
    try {
      const blob = this.c(container).getBlobClient(name);
      // One stream: on Azurite it is 2-3x faster than parallel ranged reads of a 4 MiB blob.
      const r = await call(() => blob.download());
      const chunks: Buffer[] = [];
      for await (const chunk of r.readableStreamBody as AsyncIterable<Buffer>) chunks.push(chunk);
      return { data: Buffer.concat(chunks), etag: r.etag ?? '', metadata: r.metadata ?? {} };
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  async getProperties(
    container: string,
    name: string,
    snapshot?: string,
  ): Promise<BlobProps | undefined> {
    try {
      let blob = this.c(container).getBlobClient(name);
      if (snapshot) blob = blob.withSnapshot(snapshot);
      const p = await call(() => blob.getProperties());
      return {
        size: p.contentLength ?? 0,
        etag: p.etag ?? '',
        metadata: p.metadata ?? {},
        leaseState: (p.leaseState ?? 'available') as BlobProps['leaseState'],
        kind: p.blobType === 'PageBlob' ? 'page' : p.blobType === 'AppendBlob' ? 'append' : 'block',
      };
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  async setMetadata(
    container: string,
    name: string,
    metadata: Record<string, string>,
  ): Promise<void> {
    await call(() => this.c(container).getBlobClient(name).setMetadata(metadata));
  }

  async deleteBlob(container: string, name: string, leaseId?: string): Promise<boolean> {
    try {
      await call(() =>
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
      throw mapError(e);
    }
    return out;
  }

  async readUrl(
    container: string,
    name: string,
    ttlSec: number,
    snapshot?: string,
  ): Promise<string> {
    const blob = this.c(container).getBlobClient(name);
    const now = this.clock();
    // Read only, this blob (or snapshot) only: signed with the account key or, by identity,
    // with a user-delegation key.
    const sas = await this.sas.sign({
      containerName: container,
      blobName: name,
      snapshotTime: snapshot,
      permissions: BlobSASPermissions.parse('r'),
      startsOn: new Date(now - 5 * 60_000), // clock skew
      expiresOn: new Date(now + ttlSec * 1000),
    });
    const base = snapshot ? blob.withSnapshot(snapshot).url : blob.url;
    return `${base}${base.includes('?') ? '&' : '?'}${sas}`;
  }
}

function isStatus(e: unknown, status: number): boolean {
  if (e instanceof RestError) return e.statusCode === status;
  if (e instanceof HavenError) return e.details?.status === status;
  return false;
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw mapError(e);
  }
}

/** Maps SDK errors onto the port's contract; keeps the status for callers that branch on it. */
function mapError(e: unknown): unknown {
  if (e instanceof HavenError) return e;
  if (e instanceof RestError) {
    const status = e.statusCode;
    const code = (e.code ??
      (e.details as { errorCode?: string } | undefined)?.errorCode ??
      '') as string;
    if (status === 404)
      return new HavenError('not-found', `blob not found (${code})`, { status, code });
    if (status === 409 || status === 412)
      return conflict(`storage refused the operation: ${code || status}`, { status, code });
    if (status === undefined || status === 408 || status === 429 || status >= 500)
      return transient(`storage unavailable: ${code || e.message}`, e);
    return new HavenError('internal', `storage error ${status} ${code}`, { status, code });
  }
  const code = (e as { code?: string })?.code;
  if (code && /ECONN|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|ECONNRESET|REQUEST_SEND_ERROR/.test(code))
    return transient(`storage unreachable: ${code}`, e);
  if ((e as { name?: string })?.name === 'AbortError') return transient('storage call aborted', e);
  return e;
}
