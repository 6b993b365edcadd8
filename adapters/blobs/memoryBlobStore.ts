import { conflict, HavenError, notFound, validation } from '../../core/errors';
import {
  MAX_PAGE_WRITE,
  PAGE,
  type BlobProps,
  type BlobStore,
  type HeadRead,
  type StoredBlob,
} from '../../core/replication/blobPorts';
import {
  alignedRange,
  blobNotFound,
  breakLease,
  checkWritable,
  etagOf,
  releaseLease,
  renewLease,
  takeLease,
  type MemBlob,
} from './memoryBlob';
import { headOf, listOf, propertiesOf, readRangeOf, storedBlobOf } from './memoryBlobReads';

/** In-memory blob port for fast core tests; same contract as AzureBlobStore (see the contract suite). */
export class MemoryBlobStore implements BlobStore {
  private readonly containers = new Map<string, Map<string, MemBlob>>();
  private etag = 1;
  private snapClock = 0;
  /** Lets tests simulate an outage: every call throws a transient error while set. */
  down = false;

  private box(container: string): Map<string, MemBlob> {
    this.check();
    let c = this.containers.get(container);
    if (!c) this.containers.set(container, (c = new Map()));
    return c;
  }

  private check(): void {
    if (this.down) throw new HavenError('transient', 'storage unavailable (memory store down)');
  }

  /** A new blob with the next ETag; it owns `data` (callers pass a copy). */
  private fresh(
    kind: MemBlob['kind'],
    data: Buffer,
    metadata: Record<string, string>,
    snapshots: MemBlob['snapshots'] = new Map(),
  ): MemBlob {
    return {
      kind,
      data,
      metadata: { ...metadata },
      etag: this.etag++,
      snapshots,
    };
  }

  private page(container: string, name: string): MemBlob {
    const b = this.box(container).get(name);
    if (!b) throw blobNotFound();
    if (b.kind !== 'page') throw conflict('not a page blob', { status: 409 });
    return b;
  }

  async ensureContainer(container: string): Promise<void> {
    this.box(container);
  }

  async createPageBlob(
    container: string,
    name: string,
    size: number,
    metadata: Record<string, string> = {},
  ): Promise<'created' | 'exists'> {
    const c = this.box(container);
    if (c.has(name)) return 'exists';
    if (size % PAGE !== 0) throw validation('page blob size must be a multiple of 512');
    c.set(name, this.fresh('page', Buffer.alloc(size), metadata));
    return 'created';
  }

  async uploadPages(
    container: string,
    name: string,
    offset: number,
    data: Uint8Array,
    leaseId?: string,
  ) {
    const b = this.page(container, name);
    alignedRange(offset, data.byteLength, b.data.length);
    if (data.byteLength > MAX_PAGE_WRITE) throw validation('page write over 4 MiB');
    checkWritable(b, leaseId);
    b.data.set(data, offset);
    b.etag = this.etag++;
  }

  async clearPages(
    container: string,
    name: string,
    offset: number,
    length: number,
    leaseId?: string,
  ) {
    const b = this.page(container, name);
    alignedRange(offset, length, b.data.length);
    checkWritable(b, leaseId);
    b.data.fill(0, offset, offset + length);
    b.etag = this.etag++;
  }

  async readRange(
    container: string,
    name: string,
    offset: number,
    length: number,
    snapshot?: string,
    ifMatch?: string,
  ) {
    const b = this.box(container).get(name);
    if (!b) throw blobNotFound();
    return readRangeOf(b, offset, length, snapshot, ifMatch);
  }

  async readHead(container: string, name: string, length: number): Promise<HeadRead | undefined> {
    const b = this.box(container).get(name);
    return b && headOf(b, length);
  }

  async createSnapshot(container: string, name: string, metadata?: Record<string, string>) {
    const b = this.box(container).get(name);
    if (!b) throw blobNotFound();
    // Strictly increasing, ISO-like like Azure's snapshot timestamps.
    const t = Math.max(Date.now() * 1000, this.snapClock + 1);
    this.snapClock = t;
    const id = `${new Date(Math.floor(t / 1000)).toISOString().slice(0, 19)}.${String(t % 10_000_000).padStart(7, '0')}Z`;
    b.snapshots.set(id, { data: Buffer.from(b.data), metadata: { ...(metadata ?? b.metadata) } });
    return id;
  }

  async deleteSnapshot(container: string, name: string, snapshot: string) {
    this.box(container).get(name)?.snapshots.delete(snapshot);
  }

  async acquireLease(
    container: string,
    name: string,
    durationSec: number,
    proposedLeaseId?: string,
  ) {
    const b = this.box(container).get(name);
    if (!b) throw blobNotFound();
    return takeLease(b, durationSec, proposedLeaseId);
  }

  async renewLease(container: string, name: string, leaseId: string) {
    renewLease(this.box(container).get(name), leaseId);
  }

  async releaseLease(container: string, name: string, leaseId: string) {
    releaseLease(this.box(container).get(name), leaseId);
  }

  async breakLease(container: string, name: string, _breakPeriodSec: number) {
    breakLease(this.box(container).get(name));
  }

  async putBlockBlobIfAbsent(
    container: string,
    name: string,
    data: Uint8Array,
    metadata: Record<string, string> = {},
  ) {
    const c = this.box(container);
    if (c.has(name)) return 'exists' as const;
    c.set(name, this.fresh('block', Buffer.from(data), metadata));
    return 'created' as const;
  }

  async copyBlockBlobIfAbsent(
    source: { container: string; name: string; etag: string },
    container: string,
    name: string,
    metadata: Record<string, string> = {},
  ) {
    const src = this.box(source.container).get(source.name);
    if (!src || etagOf(src) !== source.etag) return 'source-changed' as const;
    const c = this.box(container);
    if (c.has(name)) return 'exists' as const;
    c.set(name, this.fresh('block', Buffer.from(src.data), metadata));
    return 'created' as const;
  }

  async copyBlob(
    source: { container: string; name: string; snapshot?: string },
    container: string,
    name: string,
  ) {
    this.check();
    const src = this.box(source.container).get(source.name);
    const data = source.snapshot ? src?.snapshots.get(source.snapshot)?.data : src?.data;
    if (!src || !data) throw notFound('Blob', `${source.container}/${source.name}`);
    this.box(container).set(name, this.fresh(src.kind, Buffer.from(data), {}));
  }

  async putBlockBlob(
    container: string,
    name: string,
    data: Uint8Array,
    metadata: Record<string, string> = {},
  ) {
    const c = this.box(container);
    const prev = c.get(name);
    if (prev) checkWritable(prev);
    c.set(name, this.fresh('block', Buffer.from(data), metadata, prev?.snapshots));
  }

  async readBlob(container: string, name: string): Promise<StoredBlob | undefined> {
    const b = this.box(container).get(name);
    return b && storedBlobOf(b);
  }

  async getProperties(
    container: string,
    name: string,
    snapshot?: string,
  ): Promise<BlobProps | undefined> {
    const b = this.box(container).get(name);
    return b && propertiesOf(b, snapshot);
  }

  async setMetadata(container: string, name: string, metadata: Record<string, string>) {
    const b = this.box(container).get(name);
    if (!b) throw blobNotFound();
    b.metadata = { ...metadata };
    b.etag = this.etag++;
  }

  async deleteBlob(container: string, name: string, leaseId?: string) {
    const c = this.box(container);
    const b = c.get(name);
    if (!b) return false;
    checkWritable(b, leaseId);
    c.delete(name);
    return true;
  }

  async list(
    container: string,
    prefix: string,
    opts: { includeSnapshots?: boolean; max?: number } = {},
  ) {
    return listOf(this.box(container), prefix, opts);
  }

  async readUrl(container: string, name: string, ttlSec: number, snapshot?: string) {
    const q = new URLSearchParams({
      se: new Date(Date.now() + ttlSec * 1000).toISOString(),
      sp: 'r',
    });
    if (snapshot) q.set('snapshot', snapshot);
    return `memory://${container}/${name}?${q.toString()}`;
  }
}
