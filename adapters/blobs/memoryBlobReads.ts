import { HavenError, validation } from '../../core/errors';
import type {
  BlobListItem,
  BlobProps,
  HeadRead,
  StoredBlob,
} from '../../core/replication/blobPorts';
import { etagOf, leaseStateOf, type MemBlob } from './memoryBlob';

/**
 * What the in-memory store's reads return: copies (a caller never holds the store's buffers),
 * snapshots looked up by id, ETags quoted like the service's.
 */
export function readRangeOf(
  b: MemBlob,
  offset: number,
  length: number,
  snapshot?: string,
  ifMatch?: string,
): Buffer {
  if (ifMatch && ifMatch !== etagOf(b)) {
    throw new HavenError('conflict', 'blob changed (ETag mismatch)', { status: 412 });
  }
  const data = snapshot ? b.snapshots.get(snapshot)?.data : b.data;
  if (!data) throw new HavenError('not-found', 'snapshot not found', { status: 404 });
  if (offset + length > data.length) throw validation('range beyond end of blob');
  return Buffer.from(data.subarray(offset, offset + length));
}

export function headOf(b: MemBlob, length: number): HeadRead {
  return {
    data: Buffer.from(b.data.subarray(0, Math.min(length, b.data.length))),
    size: b.data.length,
    etag: etagOf(b),
    kind: b.kind,
  };
}

export function storedBlobOf(b: MemBlob): StoredBlob {
  return { data: Buffer.from(b.data), etag: etagOf(b), metadata: { ...b.metadata } };
}

export function propertiesOf(b: MemBlob, snapshot?: string): BlobProps | undefined {
  if (snapshot) {
    const s = b.snapshots.get(snapshot);
    if (!s) return undefined;
    return {
      size: s.data.length,
      etag: etagOf(b),
      metadata: { ...s.metadata },
      leaseState: 'available',
      kind: b.kind,
    };
  }
  return {
    size: b.data.length,
    etag: etagOf(b),
    metadata: { ...b.metadata },
    leaseState: leaseStateOf(b),
    kind: b.kind,
  };
}

/** Blobs of a container whose names start with `prefix`, by name, each after its snapshots. */
export function listOf(
  box: ReadonlyMap<string, MemBlob>,
  prefix: string,
  opts: { includeSnapshots?: boolean; max?: number },
): BlobListItem[] {
  const out: BlobListItem[] = [];
  const names = [...box.keys()].filter((n) => n.startsWith(prefix)).sort();
  for (const name of names) {
    const b = box.get(name)!;
    if (opts.includeSnapshots)
      for (const [snapshot, s] of [...b.snapshots].sort(([a], [z]) => a.localeCompare(z)))
        out.push({ name, size: s.data.length, metadata: { ...s.metadata }, snapshot });
    out.push({ name, size: b.data.length, metadata: { ...b.metadata } });
    if (opts.max !== undefined && out.length >= opts.max) break;
  }
  return out;
}
