import type { BlobEvents, BlobStore } from './blobPorts';
import type { ReplicationCollections } from './state';

export type { BlobEvents, BlobStore } from './blobPorts';

/** A disk of a machine as the control plane knows it. */
export interface KnownDisk {
  diskId: string;
  sizeBytes: number;
  /** The generation the control plane expects (a resync bumps it); absent = not tracked. */
  generation?: number;
  /** Protected disks take part in recovery points; a point is complete when all of them have their piece. */
  protected: boolean;
}

export interface KnownMachine {
  machineId: string;
  disks: KnownDisk[];
  /** Replication policy's retention (defaults apply when absent). */
  retention?: RetentionPolicy;
  /** Replication policy's RPO alert threshold. */
  rpoAlertSeconds?: number;
  /** Replication policy's hydration-lag alert threshold (durable → materialized). */
  hydrationLagAlertSeconds?: number;
}

/**
 * The replication policy's retention (same shape as the control plane's policy): every point
 * is kept for `retentionHours`; then each thinning rule keeps the newest point per hour/day/week
 * for points younger than its `forHours`; older points are dropped. The newest point is always kept.
 */
export interface RetentionPolicy {
  retentionHours: number;
  thinning: { keep: 'hourly' | 'daily' | 'weekly'; forHours: number }[];
}

export const DEFAULT_RETENTION: RetentionPolicy = { retentionHours: 24, thinning: [] };

/** The control plane's view of machines and disks, as the data path needs it. */
export interface MachineDirectory {
  getMachine(machineId: string): Promise<KnownMachine | undefined>;
  /** Machines that have replication documents to maintain (retention timer). */
  listMachineIds(): Promise<string[]>;
  /** The agent's last report of its backlog and the RPO it can promise (heartbeat). */
  agentReport?(machineId: string): Promise<AgentReport | undefined>;
}

export interface AgentReport {
  at: string;
  backlogBytes: number;
  sendBytesPerSecond: number;
  promisedRpoSeconds: number;
}

/** Control plane port (docs/conventions.md): the machine's batch data key, unwrapped. Throws `not-found` for an unknown key. */
export interface MachineKeys {
  getDataKey(machineId: string, keyId: string): Promise<Buffer>;
}

/**
 * What the data path tells protection sagas (per invocation: in Functions it rides the
 * invocation's durable client). The enable-protection saga waits for the first point.
 */
export interface ProtectionSignals {
  pointPublished(machineId: string, point: { id: string; disks: string[] }): Promise<void>;
}

export interface ReplicationDeps {
  blobs: BlobStore;
  events: BlobEvents;
  docs: ReplicationCollections;
  machines: MachineDirectory;
  keys: MachineKeys;
  clock: () => number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface ReplicationOptions {
  /** Replica lease duration (15–60 s); renewed while draining. */
  leaseSeconds: number;
  /** Largest seq accepted ahead of the applied watermark ("seq from the future"). */
  maxSeqAhead: number;
  /** Staged batches read (and decoded) at once ahead of the drain (up to `mergeBytes` held). */
  prefetch: number;
  /** Concurrent large page writes (small scattered ones go wider: they are latency-bound). */
  writeConcurrency: number;
  /**
   * Concurrent small page writes. More absorbs latency, but a deep queue at the storage account
   * delays everything else it serves (the claim-check uploads and staging RPO waits for). Bench
   * rpo, same machine load, 32 → 8: RPO p50 3.05 → 1.86 s at 10 MB/s, 3.71 → 1.94 s at 20 MB/s,
   * p99 13.8 → 7.5 s at 50 MB/s; hydration finished no later (7.1 vs 8.1 s after the 10 MB/s phase).
   * 8 → 2, with writeConcurrency (the local stack's HAVEN_HYDRATE_WRITES_IN_FLIGHT; its storage
   * emulator serves one request at a time): see docs/durability.md. Azure serves a page blob's
   * writes in parallel: 8 there.
   */
  smallWritesInFlight: number;
  /**
   * Most batches merged into one group (one set of page writes, one index flush, one watermark
   * write); a group also ends at a bookmark and at the first batch not staged yet.
   */
  mergeBatches: number;
  /** Data bytes after which a group ends (bounds the hydrator's memory). */
  mergeBytes: number;
  /**
   * How far behind (bookmark time to now) hydrate merges past plain crash bookmarks, dropping
   * their points (core/replication/catchUp.ts); `Infinity` never does.
   */
  catchUpAfterMs: number;
  /** While catching up, the first bookmark of each bucket of this length is still materialized. */
  catchUpKeepEveryMs: number;
  /** Lifetime of a restore read URL. */
  readUrlSeconds: number;
  /** How often each machine's newest point is read back and checked against its digest. */
  verifyEveryHours: number;
  /** How long a frontier waits for a batch while later ones are staged before it is lost (gapWatch.ts). */
  gapGraceMs: number;
}

export const DEFAULT_REPLICATION_OPTIONS: ReplicationOptions = {
  leaseSeconds: 30,
  maxSeqAhead: 1_000_000,
  prefetch: 8,
  writeConcurrency: 8,
  smallWritesInFlight: 8,
  mergeBatches: 64,
  mergeBytes: 64 * 1024 * 1024,
  catchUpAfterMs: 10_000,
  catchUpKeepEveryMs: 60_000,
  readUrlSeconds: 15 * 60,
  verifyEveryHours: 24,
  gapGraceMs: 15 * 60_000,
};
