import { incomingContainerOf } from '../batch';

/**
 * The failback session of a machine (kept in its recovery record, `failback`): what the Azure
 * disks shipped back to the site as reverse batches, and what the site agent applied.
 */

/** One sealed reverse batch in the machine's `out-<machineId>` container. */
export interface ReverseBatchRef {
  seq: number;
  blob: string;
  /** sha256 of the envelope (the agent checks it before opening). */
  sha256: string;
  /** Envelope bytes (what travels to the site). */
  bytes: number;
  /** Disk bytes it carries. */
  dataBytes: number;
}

export interface FailbackDisk {
  diskId: string;
  /** The managed disk the failover made for it. */
  azureDiskId: string;
  sizeBytes: number;
  /** Digest of the failover point: the site disk must equal it before any batch is applied. */
  pointDigest: string;
  /** The newest snapshot shipped: the next diff is taken against it (and re-enable's seed). */
  baseSnapshotId?: string;
  /** Every snapshot a shipment took of this disk (commit of failback removes all but the seed). */
  snapshots?: string[];
  batches: ReverseBatchRef[];
  /** The Azure disk's digest once every listed batch is applied (the last snapshot's). */
  expectedDigest: string;
  /** The last diff (Azure VM powered off) is listed: nothing more will come. */
  final: boolean;
  /** Bytes the Azure disk changed, by the diffs (changed ranges, block-aligned). */
  bytesChanged: number;
  /** What the agent reported: the last seq applied and the digest it then computed. */
  applied?: { seq: number; digest: string; at: string };
  /** A digest the agent reported that was not the expected one (never accepted as done). */
  mismatch?: { seq: number; digest: string; at: string };
  /**
   * Blocks the site found different from the Azure disk after the final diff (a range lost on
   * the way, a site write behind Haven's back): the saga ships them again (`n` numbers the
   * rounds; `repairs` counts the rounds shipped).
   */
  repair?: { n: number; ranges: { offset: number; length: number }[]; at: string };
  repairs?: number;
}

export interface FailbackRecord {
  /** Numbers the sessions of a machine: the reverse batches' generation. */
  session: number;
  reprotectJobId: string;
  failbackJobId?: string;
  pointId: string;
  vmId: string;
  disks: FailbackDisk[];
  /** Idempotency of the ship activity: instance id + step → done. */
  shipped: string[];
  startedAt: string;
  /** An operator asked to cancel the running failback (honoured before the point of no return). */
  cancelRequestedAt?: string;
  /** The commit-failback job acting on it, and what the commit removed once done. */
  commitJobId?: string;
  committedAt?: string;
  removed?: string[];
  /** The re-enable job that protects the site server again from the seed snapshots. */
  reenableJobId?: string;
}

/** The container of a machine's reverse batches: one per machine, named like its `in-` one. */
export const outContainerOf = (machineId: string): string =>
  `out-${incomingContainerOf(machineId).slice('in-'.length)}`;

export const reverseBlobName = (diskId: string, session: number, seq: number): string =>
  `${diskId}/g${session}/${String(seq).padStart(12, '0')}`;

export const digestsBlobName = (diskId: string, session: number): string =>
  `${diskId}/g${session}/block-digests`;

/** The point of no return of a failback: the site reported the Azure disk's digest for a disk. */
export const siteTookOver = (fb: FailbackRecord): boolean =>
  fb.disks.some((d) => d.applied !== undefined);

/** Done: the final diff is listed and the agent applied its last batch with the right digest. */
export const diskFailedBack = (d: FailbackDisk): boolean =>
  d.final &&
  d.applied !== undefined &&
  d.applied.seq === (d.batches[d.batches.length - 1]?.seq ?? 0) &&
  d.applied.digest === d.expectedDigest;
