import type { Collection, CollectionDef, DocumentStore, Versioned } from '../documents/ports';
import type { BatchBookmark, Consistency } from '../batch';

/**
 * Replication documents in the document store. All are partitioned by machineId: every
 * operation of the data path is about one machine, and a point's pieces must be read together.
 */
export const REPLICATION_DISKS: CollectionDef = {
  name: 'replicationDisks',
  partitionKey: 'machineId',
};
export const RECOVERY_POINTS: CollectionDef = {
  name: 'recoveryPoints',
  partitionKey: 'machineId',
  orderings: [[{ field: 'time', direction: 'desc' }]],
};
export const REPLICATION_ALERTS: CollectionDef = {
  name: 'alerts',
  partitionKey: 'machineId',
  orderings: [[{ field: 'at', direction: 'desc' }]],
};
export const REJECTIONS: CollectionDef = {
  name: 'rejections',
  partitionKey: 'machineId',
  orderings: [[{ field: 'at', direction: 'desc' }]],
  expiresAtField: 'expiresAt',
};
/** What ingest has stored per (disk, generation): written by ingest only, never by hydrate. */
export const STAGED_FRONTIERS: CollectionDef = {
  name: 'stagedFrontiers',
  partitionKey: 'machineId',
};

export const replicationCollections = (): CollectionDef[] => [
  REPLICATION_DISKS,
  RECOVERY_POINTS,
  REPLICATION_ALERTS,
  REJECTIONS,
  STAGED_FRONTIERS,
];

/** How many applied (seq, digest) pairs a disk remembers to tell a late duplicate from a conflicting replay. */
export const RECENT_DIGESTS = 64;

/** Watermark of one (disk, generation): what the replica holds. Written only under the replica lease, with ETag checks. */
export interface DiskReplicationDoc {
  id: string; // `${diskId}.g${generation}`
  type: 'disk-generation';
  machineId: string;
  diskId: string;
  generation: number;
  diskSize: number;
  /** Highest seq applied to the replica (0 = none). */
  appliedSeq: number;
  /** Envelope sha256 of the last RECENT_DIGESTS applied batches. */
  recent: { seq: number; sha256: string }[];
  batchesApplied: number;
  bytesApplied: number;
  /** Churn samples: bytes applied per minute bucket (last hour), for health. */
  churn: { minute: number; bytes: number }[];
  lastAppliedAt?: string;
  /** Set at this generation's first hydrated bookmark: from then on it is the disk's live replica. */
  complete?: boolean;
  lastPoint?: { pointId: string; seq: number; time: string };
  /** The agent's time of the last bookmark applied, cut or merged past (catchUp.ts buckets). */
  lastBookmarkAt?: string;
  /** A conflict or integrity failure stopped the disk; nothing is applied until an operator resyncs. */
  stopped?: { reason: string; at: string; seq?: number };
  createdAt: string;
  updatedAt: string;
}

export const diskDocId = (diskId: string, generation: number) => `${diskId}.g${generation}`;

export interface PointDiskPiece {
  diskId: string;
  generation: number;
  seq: number;
  /** Replica blob (container `replicas`) and its snapshot holding this disk at the bookmark. */
  blob: string;
  snapshot: string;
  /** Digest tree (core/disk/digest.ts) of the disk at the bookmark. */
  sha256: string;
  sizeBytes: number;
  /** Blob (container `replica-index`) with the bitmap of 64 KiB blocks changed since this disk's previous point. */
  changes: string;
  changedBlocks: number;
}

/** One disk's part of a recovery point, written when that disk hydrates the bookmark. */
export interface PieceDoc extends PointDiskPiece {
  id: string; // `piece:${pointId}:${diskId}`
  type: 'piece';
  machineId: string;
  pointId: string;
  bookmark: BatchBookmark;
  createdAt: string;
}

/** Where a point's bookmark sits in one disk's batch stream: what materializing it must reach. */
export interface PointCut {
  diskId: string;
  generation: number;
  /** Seq of the disk's bookmark batch. */
  seq: number;
  /** The disk's size in that generation. */
  sizeBytes: number;
}

/**
 * A recovery point. It exists from the moment it is *durable*: every batch up to its bookmark,
 * on every protected disk of the machine, is verified and stored (staged or already applied),
 * so it survives the loss of the site. It is *materialized* once every disk hydrated the
 * bookmark: `disks` then holds one replica snapshot per disk. Until then `disks` is empty and
 * `cuts` says how far each disk's hydration has to go.
 */
export interface RecoveryPointDoc {
  id: string; // bookmark id
  type: 'point';
  machineId: string;
  /** The bookmark's time, clamped to the server clock at creation (pointDocs.pointTime). */
  time: string;
  /** The agent's own bookmark time when it was ahead of the server clock (kept, not used). */
  agentTime?: string;
  consistency: Consistency;
  groupId?: string;
  barrier?: boolean;
  generation: number;
  /** Empty until materialized. */
  disks: PointDiskPiece[];
  /** When it became visible (= `durableAt`; kept for readers of the first schema). */
  publishedAt: string;
  /** Absent on documents written before durability was tracked: they were materialized at `publishedAt`. */
  durableAt?: string;
  cuts?: PointCut[];
  /** Queryable twin of `materializedAt` (absent on the first schema's documents: materialized). */
  materialized?: boolean;
  materializedAt?: string;
  /** Someone waits for it to materialize: hydrate must not merge past it (catchUp.ts). */
  pinned?: boolean;
  /** Set by the verification pass: the snapshots read back match `disks[].sha256`. */
  verified?: boolean;
  verifiedAt?: string;
}

/**
 * What is left of a durable point a hydrator merged past while catching up (catchUp.ts): it
 * has no snapshot and never will. Under the point's id, so every disk's hydrator merges past it
 * too and a redelivered ingest cannot create the point again; retention removes it with the
 * policy's horizon. Readers of points see no `point` there.
 */
export interface MergedPointDoc {
  id: string; // the bookmark id, as the point's
  type: 'merged-point';
  machineId: string;
  /** The point's time (what retention ages it by). */
  time: string;
  mergedAt: string;
}

/** The staged-batch frontier of one (disk, generation), kept by ingest. */
export interface StagedFrontierDoc {
  id: string; // `${diskId}.g${generation}`
  type: 'staged-frontier';
  machineId: string;
  diskId: string;
  generation: number;
  /** Every seq ≤ this is staged or applied: the dense prefix of the disk's stream in Azure. */
  stagedSeq: number;
  /** Seqs staged beyond a gap (out-of-order delivery), ascending; bounded. */
  ahead: number[];
  /** Bookmark batches staged on this disk whose point is not durable yet, by seq. */
  bookmarks: { seq: number; sizeBytes: number; bookmark: BatchBookmark }[];
  /**
   * The seq the frontier waits for while later ones are staged, and since when (gapWatch.ts:
   * one that never comes stops the generation, and the disk resyncs).
   */
  gap?: { seq: number; since: string };
  updatedAt: string;
}

export const pieceDocId = (pointId: string, diskId: string) => `piece:${pointId}:${diskId}`;

export interface ReplicationAlertDoc {
  id: string;
  machineId: string;
  kind:
    | 'replication-conflict'
    | 'replication-integrity'
    | 'replication-gap'
    | 'replication-stopped'
    | 'replication-rpo'
    | 'replication-hydration-lag'
    | 'auto-resync-suspended';
  severity: 'critical' | 'error' | 'warning';
  diskId?: string;
  generation?: number;
  seq?: number;
  message: string;
  details?: Record<string, unknown>;
  at: string;
  /** Alerts about a condition that can pass (RPO, hydration lag) say when it did. */
  resolvedAt?: string;
}

export interface RejectionDoc {
  id: string;
  /** `unknown` when the event did not even name a machine we could trust. */
  machineId: string;
  diskId?: string;
  generation?: number;
  seq?: number;
  /** HavenError kind (validation, integrity, unauthenticated, forbidden, conflict, ...). */
  kind: string;
  reason: string;
  source: { partitionKey?: string; sequenceNumber?: number; offset?: string; blob?: string };
  at: string;
  /** Epoch ms: reads skip it after this (the emulator has no TTL). */
  expiresAt?: number;
  /** Seconds: Cosmos deletes it then (the container has TTL on). */
  ttl?: number;
}

export interface ReplicationCollections {
  disks: Collection<DiskReplicationDoc>;
  points: Collection<RecoveryPointDoc | PieceDoc | MergedPointDoc>;
  alerts: Collection<ReplicationAlertDoc>;
  rejections: Collection<RejectionDoc>;
  frontiers: Collection<StagedFrontierDoc>;
}

export function replicationCollectionsOf(store: DocumentStore): ReplicationCollections {
  return {
    disks: store.collection<DiskReplicationDoc>(REPLICATION_DISKS),
    points: store.collection<RecoveryPointDoc | PieceDoc | MergedPointDoc>(RECOVERY_POINTS),
    alerts: store.collection<ReplicationAlertDoc>(REPLICATION_ALERTS),
    rejections: store.collection<RejectionDoc>(REJECTIONS),
    frontiers: store.collection<StagedFrontierDoc>(STAGED_FRONTIERS),
  };
}

export type VersionedDisk = Versioned<DiskReplicationDoc>;
