import { conflict, HavenError, notFound, validation } from '../../core/errors';
import {
  MAX_PAGE_WRITE,
  PAGE,
  type BlobListItem,
  type BlobProps,
  type BlobStore,
  type HeadRead,
  type StoredBlob,
} from '../../core/replication/blobPorts';
import {
  alignedRange,
  blobNotFound,
  checkWritable,
  leaseStateOf,
  takeLease,
  type MemBlob,
} from './memoryBlob';

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
    if (ifMatch && ifMatch !== `"${b.etag}"`) {
      throw new HavenError('conflict', 'blob changed (ETag mismatch)', { status: 412 });
    }
    const data = snapshot ? b.snapshots.get(snapshot)?.data : b.data;
    if (!data) throw new HavenError('not-found', 'snapshot not found', { status: 404 });
    if (offset + length > data.length) throw validation('range beyond end of blob');
    return Buffer.from(data.subarray(offset, offset + length));
  }

  async readHead(container: string, name: string, length: number): Promise<HeadRead | undefined> {
    const b = this.box(container).get(name);
    if (!b) return undefined;
    return {
      data: Buffer.from(b.data.subarray(0, Math.min(length, b.data.length))),
      size: b.data.length,
      etag: `"${b.etag}"`,
      kind: b.kind,
    };
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
    const b = this.box(container).get(name);
    if (!b?.lease || b.lease.id !== leaseId || b.lease.broken)
      throw conflict('lease lost', { status: 409 });
    // Like the service: the lease runs its original duration again from now.
    if (b.lease.durationSec >= 0) b.lease.until = Date.now() + b.lease.durationSec * 1000;
  }

  async releaseLease(container: string, name: string, leaseId: string) {
    const b = this.box(container).get(name);
    if (b?.lease?.id === leaseId) b.lease = undefined;
  }

  async breakLease(container: string, name: string, _breakPeriodSec: number) {
    const b = this.box(container).get(name);
    if (b?.lease) b.lease.broken = true;
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
    if (!src || `"${src.etag}"` !== source.etag) return 'source-changed' as const;
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
    if (!b) return undefined;
    return { data: Buffer.from(b.data), etag: `"${b.etag}"`, metadata: { ...b.metadata } };
  }

  async getProperties(
    container: string,
    name: string,
    snapshot?: string,
  ): Promise<BlobProps | undefined> {
    const b = this.box(container).get(name);
    if (!b) return undefined;
    if (snapshot) {
      const s = b.snapshots.get(snapshot);
      if (!s) return undefined;
      return {
        size: s.data.length,
        etag: `"${b.etag}"`,
        metadata: { ...s.metadata },
        leaseState: 'available',
        kind: b.kind,
      };
    }
    return {
      size: b.data.length,
      etag: `"${b.etag}"`,
      metadata: { ...b.metadata },
      leaseState: leaseStateOf(b),
      kind: b.kind,
    };
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
    const out: BlobListItem[] = [];
    const names = [...this.box(container).keys()].filter((n) => n.startsWith(prefix)).sort();
    for (const name of names) {
      const b = this.box(container).get(name)!;
      if (opts.includeSnapshots)
        for (const [snapshot, s] of [...b.snapshots].sort(([a], [z]) => a.localeCompare(z)))
          out.push({ name, size: s.data.length, metadata: { ...s.metadata }, snapshot });
      out.push({ name, size: b.data.length, metadata: { ...b.metadata } });
      if (opts.max !== undefined && out.length >= opts.max) break;
    }
    return out;
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
