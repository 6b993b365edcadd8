/**
 * Storage ports of the replication data path. Core code talks to blob storage only through
 * these interfaces; `adapters/blobs/` implements them (Azure SDK, in-memory).
 *
 * Error contract (every implementation): a missing blob on read/props returns `undefined`;
 * a lease held by someone else or a wrong/missing lease id is a `conflict` HavenError; an
 * `ifNoneMatch`-style create of an existing blob returns 'exists'; a storage outage is a
 * `transient` HavenError (retryable) so triggers can throw and be retried.
 */

/** Page size of page blobs: every page offset and length is a multiple of it. */
export const PAGE = 512;
/** Largest single page write (`uploadPages`) the service accepts. */
export const MAX_PAGE_WRITE = 4 * 1024 * 1024;

export interface BlobProps {
  size: number;
  etag: string;
  metadata: Record<string, string>;
  /** 'leased' when an active lease is held by anybody. */
  leaseState: 'available' | 'leased' | 'expired' | 'breaking' | 'broken';
  kind: 'page' | 'block' | 'append';
}

export interface BlobListItem {
  name: string;
  size: number;
  metadata: Record<string, string>;
  /** Set when the item is a snapshot (list with `includeSnapshots`). */
  snapshot?: string;
}

/** The start of a blob, with what the same response says about the whole blob. */
export interface HeadRead {
  /** Bytes [0, min(length, size)). */
  data: Buffer;
  size: number;
  etag: string;
  kind: BlobProps['kind'];
}

export interface StoredBlob {
  data: Buffer;
  etag: string;
  metadata: Record<string, string>;
}

export interface BlobStore {
  ensureContainer(container: string): Promise<void>;

  // ---- page blobs (replicas, indexes)
  /** Creates a zero-filled page blob of `size` bytes (multiple of 512) unless one exists. */
  createPageBlob(
    container: string,
    name: string,
    size: number,
    metadata?: Record<string, string>,
  ): Promise<'created' | 'exists'>;
  /** Writes `data` (≤ 4 MiB, 512-aligned) at `offset`; `leaseId` is required when the blob is leased. */
  uploadPages(
    container: string,
    name: string,
    offset: number,
    data: Uint8Array,
    leaseId?: string,
  ): Promise<void>;
  /** Zeroes [offset, offset+length) (512-aligned). */
  clearPages(
    container: string,
    name: string,
    offset: number,
    length: number,
    leaseId?: string,
  ): Promise<void>;
  /**
   * Reads [offset, offset+length) of the blob (or of one of its snapshots). Unwritten pages read
   * as zero. With `ifMatch`, the blob must still have that ETag (else a `conflict` with status
   * 412): what is read is what was checked, not whatever replaced it since.
   */
  readRange(
    container: string,
    name: string,
    offset: number,
    length: number,
    snapshot?: string,
    ifMatch?: string,
  ): Promise<Buffer>;
  /**
   * One request for bytes [0, length) of a blob and its size, ETag and kind (a claim check is
   * checked and read at once: a properties call first cost a request per batch, twice).
   * `undefined` when the blob does not exist. Like every read, the bytes returned are the
   * caller's own (hydrate decrypts over them).
   */
  readHead(container: string, name: string, length: number): Promise<HeadRead | undefined>;
  createSnapshot(
    container: string,
    name: string,
    metadata?: Record<string, string>,
  ): Promise<string>;
  /** Idempotent: deleting a missing snapshot is not an error. */
  deleteSnapshot(container: string, name: string, snapshot: string): Promise<void>;

  // ---- leases (single writer per replica)
  /** Returns the lease id, or `undefined` when somebody else holds a lease. `durationSec` 15–60 or -1 (infinite). */
  acquireLease(
    container: string,
    name: string,
    durationSec: number,
    proposedLeaseId?: string,
  ): Promise<string | undefined>;
  /** Throws `conflict` when the lease was lost (expired and taken, or broken). */
  renewLease(container: string, name: string, leaseId: string): Promise<void>;
  /** Idempotent release. */
  releaseLease(container: string, name: string, leaseId: string): Promise<void>;
  /** Breaks whatever lease is held; the blob is writable again after `breakPeriodSec`. */
  breakLease(container: string, name: string, breakPeriodSec: number): Promise<void>;

  // ---- block blobs (staging, claim checks, change indexes)
  /** Creates the blob only if absent (`If-None-Match: *`). */
  putBlockBlobIfAbsent(
    container: string,
    name: string,
    data: Uint8Array,
    metadata?: Record<string, string>,
  ): Promise<'created' | 'exists'>;
  /** Unconditional write (indexes Haven owns and rewrites whole). */
  putBlockBlob(
    container: string,
    name: string,
    data: Uint8Array,
    metadata?: Record<string, string>,
  ): Promise<void>;
  /**
   * Server-side copy of a block blob, created only if the target is absent (`If-None-Match: *`)
   * and only if the source still has `sourceEtag` (so the copy holds exactly the bytes the
   * caller read and verified). Resolves once the copy is complete. No bytes travel through the
   * caller: used to stage claim-checked payloads without uploading them a second time.
   * Returns 'source-changed' when the source is gone or has another ETag.
   */
  copyBlockBlobIfAbsent(
    source: { container: string; name: string; etag: string },
    container: string,
    name: string,
    metadata?: Record<string, string>,
  ): Promise<'created' | 'exists' | 'source-changed'>;
  /**
   * Server-side copy of a blob, or of one of its snapshots, to a new blob of the same kind
   * (replacing one there). Resolves once the copy is complete; no bytes travel through the
   * caller. Recovery copies a point's replica snapshot to a base blob a managed disk imports.
   * Throws `not-found` when the source (or snapshot) is missing.
   */
  copyBlob(
    source: { container: string; name: string; snapshot?: string },
    container: string,
    name: string,
  ): Promise<void>;
  /** The whole blob; its bytes are the caller's own (changing them changes no stored blob). */
  readBlob(container: string, name: string): Promise<StoredBlob | undefined>;
  getProperties(container: string, name: string, snapshot?: string): Promise<BlobProps | undefined>;
  setMetadata(container: string, name: string, metadata: Record<string, string>): Promise<void>;
  /** Deletes the blob and its snapshots; returns false if it did not exist. */
  deleteBlob(container: string, name: string, leaseId?: string): Promise<boolean>;
  list(
    container: string,
    prefix: string,
    opts?: { includeSnapshots?: boolean; max?: number },
  ): Promise<BlobListItem[]>;

  /** A read-only URL for the blob (or snapshot) valid for `ttlSec`; carries a SAS token: never log it. */
  readUrl(container: string, name: string, ttlSec: number, snapshot?: string): Promise<string>;
}

/**
 * Tells the hydrate trigger that a blob was written. In Azure Event Grid already does it
 * (no-op implementation); locally the host is nudged over HTTP.
 */
export interface BlobEvents {
  written(container: string, name: string): Promise<void>;
}
