import { decodeBatch, envelopeDigest, stagingBlobName, type DecodedBatch } from '../batch';
import { HavenError, conflict, isHavenError } from '../errors';
import { cutPiece } from './cutPiece';
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
import { applyExtents, blockSpans, spansOverlap, touchedBlockDigests } from './pageWrites';
import type { ProtectionSignals, ReplicationDeps, ReplicationOptions } from './ports';
import { materializePoint } from './pointDocs';
import { ReplicaIndex } from './replicaIndex';
import { deleteStaged, readStaged, type Staged } from './stagedBatch';
import { diskDocId, type PieceDoc, type VersionedDisk } from './state';
import { fixedVhdFooter, isVhdFooter } from './vhdFooter';
import { advance, dropLateDuplicates, type Applied } from './watermark';

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
}

interface InFlight {
  spans: [number, number][];
  done: Promise<unknown>;
  settled: boolean;
}

/** Blob trigger entry point: a staged batch was written; drain its disk. */
export async function hydrateStaged(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  stagingName: string,
  signals?: ProtectionSignals,
): Promise<HydrateOutcome> {
  const key = parseStagingName(stagingName);
  return drainDisk(deps, opts, key, signals);
}

/**
 * Applies staged batches of one (disk, generation) in seq order under the replica's lease.
 * After releasing the lease it looks once more for the next seq: a batch staged while we held
 * the lease had its trigger refused ("busy"), so the holder must pick it up.
 */
export async function drainDisk(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  key: DiskKey,
  signals?: ProtectionSignals,
): Promise<HydrateOutcome> {
  const total: HydrateOutcome = { status: 'drained', appliedSeq: 0, applied: 0, points: [] };
  for (;;) {
    const r = await drainOnce(deps, opts, key, signals);
    total.status = r.status;
    total.appliedSeq = r.appliedSeq;
    total.applied += r.applied;
    total.points.push(...r.points);
    if (r.reason) total.reason = r.reason;
    if (r.status !== 'drained') return total;
    const next = stagingBlobName(key.machineId, key.diskId, key.generation, r.appliedSeq + 1);
    if (!(await deps.blobs.getProperties(STAGING, next))) return total;
  }
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
  } else {
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
    if (!isVhdFooter(await blobs.readRange(REPLICAS, replica, footerAt, VHD_FOOTER_BYTES))) {
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
    const deletes: Promise<boolean>[] = [];
    const prefetched = new Map<number, Promise<Staged | undefined>>();
    const fetch = (seq: number) => {
      let p = prefetched.get(seq);
      if (!p) {
        p = readStaged(deps, stagingBlobName(key.machineId, key.diskId, key.generation, seq));
        p.catch(() => {}); // awaited later; don't let an unused prefetch crash the process
        prefetched.set(seq, p);
      }
      return p;
    };

    // Applied but not yet recorded in the watermark (group commit: one document write per
    // `commitEvery` batches). Re-applying them after a crash is harmless: same bytes at the same
    // offsets, digests recomputed; their staged blobs are deleted only once committed.
    let pending: Applied[] = [];
    // The previous batch's index update runs while this batch's pages are written (index
    // updates stay in order; every commit waits for them).
    let indexing: Promise<void> = Promise.resolve();
    // Batches whose page writes (and digest read-back) may still be running, in seq order.
    let inflight: InFlight[] = [];
    const commit = async (piece?: PieceDoc) => {
      await indexing;
      if (pending.length === 0) return;
      keeper.check();
      state = await advance(deps, state!, pending, piece);
      for (const a of pending) deletes.push(deleteStaged(deps, a.name, a.batch));
      if (deletes.length >= 16) await Promise.all(deletes.splice(0));
      out.applied += pending.length;
      out.appliedSeq = state.doc.appliedSeq;
      pending = [];
    };
    let seq = state.doc.appliedSeq;

    for (;;) {
      seq++;
      for (let k = 1; k <= opts.prefetch; k++) void fetch(seq + k);
      const staged = await fetch(seq);
      prefetched.delete(seq);
      if (!staged) break; // a gap (or the end): the missing batch's arrival triggers us again

      keeper.check();

      const name = stagingBlobName(key.machineId, key.diskId, key.generation, seq);
      const digest = envelopeDigest(staged.data);
      let batch: DecodedBatch;
      try {
        if (staged.refused) throw staged.refused;
        if (staged.metadata.sha256 && staged.metadata.sha256 !== digest) {
          throw new HavenError(
            'integrity',
            `Staged batch ${name} does not match the digest recorded at ingest.`,
          );
        }
        batch = await decodeBatch(staged.data, (m, k) => deps.keys.getDataKey(m, k));
        const h = batch.header;
        if (
          h.machineId !== key.machineId ||
          h.diskId !== key.diskId ||
          h.generation !== key.generation ||
          h.seq !== seq
        ) {
          throw new HavenError(
            'integrity',
            `Staged batch ${name} holds ${h.machineId}/${h.diskId} g${h.generation} seq ${h.seq}.`,
          );
        }
        if (h.diskSize !== diskSize)
          throw new HavenError(
            'integrity',
            `Staged batch ${name} is for a ${h.diskSize}-byte disk, replica is ${diskSize}.`,
          );
      } catch (e) {
        if (isHavenError(e) && !e.retryable) {
          await commit();
          await stopDisk(
            deps,
            { ...key, diskSize, seq },
            'replication-integrity',
            `Staged batch ${name} refused: ${e.message}`,
          );
          return { ...out, status: 'stopped', reason: e.message };
        }
        throw e;
      }

      // Start this batch's writes once no in-flight batch touches its blocks (and the window has
      // room); its digests go to the index after every earlier batch's (the chain below).
      const spans = blockSpans(batch.extents);
      inflight = inflight.filter((f) => !f.settled);
      const waitFor = inflight.filter((f) => spansOverlap(f.spans, spans)).map((f) => f.done);
      if (inflight.length >= Math.max(1, opts.applyAhead)) waitFor.push(inflight[0]!.done);
      await Promise.all(waitFor);
      const extents = batch.extents;
      const applied = (async () => {
        await applyExtents(deps, opts, replica, leaseId, extents);
        return touchedBlockDigests(deps, replica, diskSize, extents);
      })();
      const flight: InFlight = { spans, done: applied, settled: false };
      applied.then(
        () => (flight.settled = true),
        () => (flight.settled = true),
      );
      inflight.push(flight);
      const before = indexing;
      indexing = (async () => {
        const digests = await applied;
        await before;
        await index.update(digests);
      })();
      indexing.catch(() => {}); // surfaced by the next await of it

      const bytes = batch.extents.reduce((n, e) => n + (e.kind === 'data' ? e.length : 0), 0);
      pending.push({ seq, digest, bytes, name, batch: staged.batch });

      if (batch.header.bookmark) {
        // A point is committed at once: the watermark never moves past a bookmark without it.
        await indexing;
        const pieceDoc = await cutPiece(deps, key, replica, index, batch.header);
        await commit(pieceDoc);
        out.points.push(pieceDoc.pointId);
        const point = await materializePoint(deps, key.machineId, pieceDoc.pointId);
        if (point) {
          await signals?.pointPublished(key.machineId, {
            id: point.id,
            disks: point.disks.map((d) => d.diskId),
          });
        }
      } else if (pending.length >= opts.commitEvery) {
        await commit();
      }
    }
    await commit();
    await Promise.all(deletes.splice(0));
    await dropLateDuplicates(deps, key, state);
    return out;
  } finally {
    await keeper.stop();
    await blobs.releaseLease(REPLICA_INDEX, index.name, leaseId).catch(() => {});
    await blobs.releaseLease(REPLICAS, replica, leaseId).catch(() => {});
  }
}
