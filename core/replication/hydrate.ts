import { stagingBlobName } from '../batch';
import { conflict, isHavenError } from '../errors';
import { applyStagedGroups } from './applyGroups';
import { LeaseKeeper } from './leaseKeeper';
import { newDiskDoc, stopDisk } from './incidents';
import {
  REPLICAS,
  REPLICA_INDEX,
  STAGING,
  VHD_FOOTER_BYTES,
  parseStagingName,
  replicaBlobName,
  replicaBlobSize,
  type DiskKey,
} from './names';
import type { ProtectionSignals, ReplicationDeps, ReplicationOptions } from './ports';
import { ReplicaIndex } from './replicaIndex';
import { diskDocId, type VersionedDisk } from './state';
import { fixedVhdFooter, isVhdFooter } from './vhdFooter';
import { dropLateDuplicates } from './watermark';

export interface HydrateOutcome {
  /**
   * drained: applied everything contiguous (stopped at a gap or the end);
   * busy: another hydrator holds the replica lease (it drains);
   * stopped: the disk is stopped (conflict / integrity);
   */
  status: 'drained' | 'busy' | 'stopped';
  appliedSeq: number;
  applied: number;
  points: string[];
  reason?: string;
  /** Merged groups written (one page-write pass and one watermark write each). */
  groups?: number;
  /** Requests made against the replica and its index (each page blob takes ~500/s). */
  requests?: {
    pageWrites: number;
    clears: number;
    readBacks: number;
    indexReads: number;
    indexWrites: number;
  };
}

/** Blob trigger entry point: a staged batch was written; drain its disk. */
export async function hydrateStaged(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  stagingName: string,
  signals?: ProtectionSignals,
  joined?: () => boolean,
): Promise<HydrateOutcome> {
  const key = parseStagingName(stagingName);
  return drainDisk(deps, opts, key, signals, joined);
}

/**
 * Applies staged batches of one (disk, generation) in seq order under the replica's lease.
 * After releasing the lease it looks once more for the next seq: a batch staged while we held
 * the lease had its trigger refused ("busy"), so the holder must pick it up. `joined` (from a
 * `DrainCoalescer`) says whether a trigger joined this drain since it was last asked: that
 * trigger's batch may have been staged after the look, so it looks again.
 */
export async function drainDisk(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  key: DiskKey,
  signals?: ProtectionSignals,
  joined?: () => boolean,
): Promise<HydrateOutcome> {
  const total: HydrateOutcome = { status: 'drained', appliedSeq: 0, applied: 0, points: [] };
  for (;;) {
    const r = await drainOnce(deps, opts, key, signals);
    total.status = r.status;
    total.appliedSeq = r.appliedSeq;
    total.applied += r.applied;
    total.points.push(...r.points);
    if (r.reason) total.reason = r.reason;
    total.groups = (total.groups ?? 0) + (r.groups ?? 0);
    if (r.requests) {
      const t = (total.requests ??= {
        pageWrites: 0,
        clears: 0,
        readBacks: 0,
        indexReads: 0,
        indexWrites: 0,
      });
      for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += r.requests[k];
    }
    if (r.status !== 'drained') return total;
    const next = stagingBlobName(key.machineId, key.diskId, key.generation, r.appliedSeq + 1);
    if (!(await isStaged(deps, next, joined))) return total;
  }
}

async function isStaged(
  deps: ReplicationDeps,
  name: string,
  joined?: () => boolean,
): Promise<boolean> {
  do if (await deps.blobs.getProperties(STAGING, name)) return true;
  while (joined?.());
  return false;
}

async function loadDiskDoc(
  deps: ReplicationDeps,
  key: DiskKey,
): Promise<VersionedDisk | undefined> {
  const found = await deps.docs.disks.get(key.machineId, diskDocId(key.diskId, key.generation));
  if (found) return found;
  const machine = await deps.machines.getMachine(key.machineId);
  const disk = machine?.disks.find((d) => d.diskId === key.diskId);
  if (!disk) return undefined;
  try {
    return await deps.docs.disks.create(
      newDiskDoc(key.machineId, key.diskId, key.generation, disk.sizeBytes, deps.clock()),
    );
  } catch (e) {
    if (isHavenError(e) && e.kind === 'conflict')
      return deps.docs.disks.get(key.machineId, diskDocId(key.diskId, key.generation));
    throw e;
  }
}

/**
 * A watermark past 0 means a drain applied batches, which it does only after it created the
 * index and wrote the footer under its lease: later drains need not check either (two requests
 * each, paid by every drain of an initial sync).
 */
const setUp = (state: VersionedDisk) => state.doc.appliedSeq > 0;

async function drainOnce(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  key: DiskKey,
  signals?: ProtectionSignals,
): Promise<HydrateOutcome> {
  const { blobs } = deps;
  let state = await loadDiskDoc(deps, key);
  if (!state) {
    // Staged before the disk was removed from the machine: nothing to apply it to.
    deps.log?.('hydrate: unknown disk', { ...key });
    return { status: 'stopped', appliedSeq: 0, applied: 0, points: [], reason: 'unknown disk' };
  }
  if (state.doc.stopped) {
    return {
      status: 'stopped',
      appliedSeq: state.doc.appliedSeq,
      applied: 0,
      points: [],
      reason: state.doc.stopped.reason,
    };
  }
  const diskSize = state.doc.diskSize;
  const replica = replicaBlobName(key.machineId, key.diskId, key.generation);
  await Promise.all([
    blobs.ensureContainer(REPLICAS),
    blobs.ensureContainer(REPLICA_INDEX),
    blobs.ensureContainer(STAGING),
  ]);
  const blobSize = replicaBlobSize(diskSize);
  const index = new ReplicaIndex(blobs, key.machineId, key.diskId, key.generation, diskSize);
  const props = await blobs.getProperties(REPLICAS, replica);
  if (!props && setUp(state)) {
    // Batches were applied to a replica that is not there (deleted, or in another account: the
    // replicas moved to an account of their own). A fresh zero blob under the old index would
    // make every later point wrong; the generation stops and the disk resyncs in full.
    const reason = `the replica ${replica} is missing though ${state.doc.appliedSeq} batches were applied to it`;
    await stopDisk(
      deps,
      { ...key, diskSize, seq: state.doc.appliedSeq + 1 },
      'replication-integrity',
      `Disk ${key.diskId} generation ${key.generation} cannot go on: ${reason}.`,
    );
    return { status: 'stopped', appliedSeq: state.doc.appliedSeq, applied: 0, points: [], reason };
  }
  if (!props) {
    await blobs.createPageBlob(REPLICAS, replica, blobSize, {
      machineId: key.machineId,
      diskId: key.diskId,
      generation: String(key.generation),
      diskSize: String(diskSize),
    });
    await index.ensure();
  } else if (props.leaseState === 'leased') {
    // The holder drains (and looks for the next seq after releasing): answer at once instead
    // of paying the index and lease round trips of a certain refusal.
    return { status: 'busy', appliedSeq: state.doc.appliedSeq, applied: 0, points: [] };
  } else if (!setUp(state)) {
    await index.ensure();
  }

  const leaseId = await blobs.acquireLease(REPLICAS, replica, opts.leaseSeconds);
  if (!leaseId) return { status: 'busy', appliedSeq: state.doc.appliedSeq, applied: 0, points: [] };
  // The index is written under a lease too (same id): a hydrator that lost the replica lease
  // must not overwrite digests either. The replica lease is the authority: whoever holds it
  // breaks a stale index lease left by a previous holder.
  try {
    if (!(await blobs.acquireLease(REPLICA_INDEX, index.name, opts.leaseSeconds, leaseId))) {
      await blobs.breakLease(REPLICA_INDEX, index.name, 0);
      if (!(await blobs.acquireLease(REPLICA_INDEX, index.name, opts.leaseSeconds, leaseId))) {
        throw conflict(`Index ${index.name} stays leased by another hydrator.`);
      }
    }
  } catch (e) {
    await blobs.releaseLease(REPLICAS, replica, leaseId).catch(() => {});
    throw e;
  }
  index.leaseId = leaseId;
  const keeper = new LeaseKeeper(
    async () => {
      await blobs.renewLease(REPLICAS, replica, leaseId);
      await blobs.renewLease(REPLICA_INDEX, index.name, leaseId);
    },
    (opts.leaseSeconds * 1000) / 3,
  );
  keeper.start();
  const out: HydrateOutcome = {
    status: 'drained',
    appliedSeq: state.doc.appliedSeq,
    applied: 0,
    points: [],
  };
  try {
    // The fixed VHD footer (idempotent: deterministic bytes), under our lease.
    const footerAt = blobSize - VHD_FOOTER_BYTES;
    if (
      !setUp(state) &&
      !isVhdFooter(await blobs.readRange(REPLICAS, replica, footerAt, VHD_FOOTER_BYTES))
    ) {
      const createdAt = Date.parse(state.doc.createdAt);
      await blobs.uploadPages(
        REPLICAS,
        replica,
        footerAt,
        fixedVhdFooter(footerAt, replica, createdAt),
        leaseId,
      );
    }
    // Re-read under the lease: the previous holder may have moved the watermark since.
    state = (await deps.docs.disks.get(key.machineId, state.doc.id))!;
    if (state.doc.stopped) return { ...out, status: 'stopped', reason: state.doc.stopped.reason };
    const r = await applyStagedGroups(
      {
        deps,
        opts,
        key,
        replica,
        leaseId,
        diskSize,
        index,
        keeper,
        ...(signals ? { signals } : {}),
      },
      state,
    );
    Object.assign(out, {
      applied: r.applied,
      appliedSeq: r.state.doc.appliedSeq,
      points: r.points,
      groups: r.groups,
      requests: {
        ...r.requests,
        indexReads: index.requests.reads,
        indexWrites: index.requests.writes,
      },
    });
    if (r.stopped) return { ...out, status: 'stopped', reason: r.stopped };
    await dropLateDuplicates(deps, key, r.state);
    return out;
  } finally {
    await keeper.stop();
    await blobs.releaseLease(REPLICA_INDEX, index.name, leaseId).catch(() => {});
    await blobs.releaseLease(REPLICAS, replica, leaseId).catch(() => {});
  }
}
