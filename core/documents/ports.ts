/**
 * The document-store port: typed collections of JSON documents, partitioned by one top-level
 * field, with optimistic concurrency (ETags) and keyset paging. Implemented by Cosmos DB
 * (`adapters/documents/cosmosDocumentStore.ts`) and in memory; one contract suite covers both.
 *
 * Rules for documents: `id` is a string, the partition-key field is a string, no field may
 * start with `_` (Cosmos system properties are stripped on read).
 */

export interface CollectionDef {
  /** Container name. */
  readonly name: string;
  /** Top-level string field holding the partition key (`'id'` for self-partitioned documents). */
  readonly partitionKey: string;
  /**
   * Optional top-level field with an expiry (epoch milliseconds). Expired documents read as
   * absent (get → undefined, queries skip them) even before anything deletes them: the Cosmos
   * emulator has no TTL, and real Cosmos TTL deletion is lazy anyway.
   */
  readonly expiresAtField?: string;
  /**
   * The orderings queries may use (each implicitly followed by `id` in the last key's
   * direction). The Cosmos adapter declares a composite index for each, which Cosmos needs
   * for a multi-key ORDER BY; a query with an undeclared ordering fails (`internal`) in
   * every adapter. Ordering by `id` alone needs no declaration.
   */
  readonly orderings?: readonly (readonly OrderBy[])[];
}

export interface Document {
  id: string;
}

/** A document with the ETag of the version read or written. */
export interface Versioned<T> {
  doc: T;
  etag: string;
}

export type FilterOp = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'in';

export interface Filter {
  /** Dotted path of identifiers, e.g. `state` or `facts.os`. */
  field: string;
  op: FilterOp;
  /** Scalar, or an array of scalars for `in`. */
  value: string | number | boolean | null | readonly (string | number | boolean)[];
}

export interface OrderBy {
  field: string;
  direction?: 'asc' | 'desc';
}

export interface Query {
  /** Restrict to one partition (filtered in WHERE as well, so it is right on the emulator too). */
  partitionKey?: string;
  where?: readonly Filter[];
  /** Fields must be present on every matching document. `id` is always appended as tie-break. */
  orderBy?: readonly OrderBy[];
  /** Page size, 1..1000, default 100. */
  limit?: number;
  /** Opaque token from a previous page. */
  continuation?: string;
}

export interface Page<T> {
  items: Versioned<T>[];
  /** Present when more items may follow. */
  continuation?: string;
}

export interface WriteOptions {
  /** Only write if the stored version still has this ETag (412 `precondition` otherwise). */
  ifMatch?: string;
}

export interface Collection<T extends Document> {
  readonly def: CollectionDef;
  get(partitionKey: string, id: string): Promise<Versioned<T> | undefined>;
  /** `conflict` if a document with this id exists in the partition. */
  create(doc: T): Promise<Versioned<T>>;
  /** `not-found` if absent, `precondition` if `ifMatch` is stale. */
  replace(doc: T, opts?: WriteOptions): Promise<Versioned<T>>;
  /** Create or overwrite; with `ifMatch`, behaves like `replace`. */
  upsert(doc: T, opts?: WriteOptions): Promise<Versioned<T>>;
  /** Returns false if absent; `precondition` if `ifMatch` is stale. */
  delete(partitionKey: string, id: string, opts?: WriteOptions): Promise<boolean>;
  query(q?: Query): Promise<Page<T>>;
}

export interface DocumentStore {
  /** Creates missing containers (idempotent). Collections also ensure themselves on first use. */
  ensure(defs: readonly CollectionDef[]): Promise<void>;
  collection<T extends Document>(def: CollectionDef): Collection<T>;
  /** Cheap round trip for health checks. */
  ping(): Promise<void>;
}
