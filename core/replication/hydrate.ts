import {
  decodeBatch,
  envelopeDigest,
  stagingBlobName,
  type BatchHeader,
  type DecodedBatch,
  type DecodedExtent,
} from '../batch';
import { DIGEST_BLOCK, blockDigest } from '../disk/digest';
import { HavenError, conflict, isHavenError } from '../errors';
import { mapLimit } from '../mapLimit';
import { MAX_PAGE_WRITE } from './blobPorts';
import { newDiskDoc, stopDisk } from './incidents';
import {
  REPLICAS,
  REPLICA_INDEX,
  STAGING,
  VHD_FOOTER_BYTES,
  changeSetBlobName,
  parseStagingName,
  replicaBlobName,
  replicaBlobSize,
} from './names';
import type { ProtectionSignals, ReplicationDeps, ReplicationOptions } from './ports';
import { publishPoint } from './recoveryPoints';
import { ReplicaIndex, popcount } from './replicaIndex';
import { deleteStaged, readStaged, type Staged } from './stagedBatch';
import {
  RECENT_DIGESTS,
  diskDocId,
  pieceDocId,
  type DiskReplicationDoc,
  type PieceDoc,
  type VersionedDisk,
} from './state';
import { fixedVhdFooter, isVhdFooter } from './vhdFooter';

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

const MIN_PIECE = 1024 * 1024;
/** Requests in flight for small page writes and digest read-backs (latency-bound). */
const SMALL_OPS_IN_FLIGHT = 32;
/** Payload bytes in flight that large page writes are sized against. */
const WRITE_BYTES_IN_FLIGHT = 8 * 1024 * 1024;

interface DiskKey {
  machineId: string;
  diskId: string;
  generation: number;
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
  let leasedAt = deps.clock();
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

      if (deps.clock() - leasedAt > (opts.leaseSeconds * 1000) / 3) {
        await blobs.renewLease(REPLICAS, replica, leaseId);
        await blobs.renewLease(REPLICA_INDEX, index.name, leaseId);
        leasedAt = deps.clock();
      }

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
        const point = await publishPoint(deps, key.machineId, pieceDoc.pointId);
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
    await blobs.releaseLease(REPLICA_INDEX, index.name, leaseId).catch(() => {});
    await blobs.releaseLease(REPLICAS, replica, leaseId).catch(() => {});
  }
}

interface InFlight {
  spans: [number, number][];
  done: Promise<unknown>;
  settled: boolean;
}

/** The 64 KiB digest blocks a batch touches, as sorted, merged [first, last] spans. */
export function blockSpans(
  extents: readonly { offset: number; length: number }[],
): [number, number][] {
  const raw = extents
    .filter((e) => e.length > 0)
    .map((e): [number, number] => [
      Math.floor(e.offset / DIGEST_BLOCK),
      Math.floor((e.offset + e.length - 1) / DIGEST_BLOCK),
    ])
    .sort((a, z) => a[0] - z[0]);
  const out: [number, number][] = [];
  for (const [a, z] of raw) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], z);
    else out.push([a, z]);
  }
  return out;
}

/** True when two sorted span lists share a block. */
export function spansOverlap(
  a: readonly [number, number][],
  b: readonly [number, number][],
): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i]![1] < b[j]![0]) i++;
    else if (b[j]![1] < a[i]![0]) j++;
    else return true;
  }
  return false;
}

/** Page writes (≤ 4 MiB each) and clears, a few in flight. Same bytes at same offsets: idempotent. */
async function applyExtents(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  replica: string,
  leaseId: string,
  extents: DecodedExtent[],
): Promise<void> {
  const jobs: { bytes: number; run: () => Promise<void> }[] = [];
  for (const e of extents) {
    if (e.kind === 'zero') {
      for (let off = 0; off < e.length; off += 256 * MAX_PAGE_WRITE) {
        const len = Math.min(256 * MAX_PAGE_WRITE, e.length - off);
        jobs.push({
          bytes: MAX_PAGE_WRITE, // a clear moves no payload; count it as one large request
          run: () => deps.blobs.clearPages(REPLICAS, replica, e.offset + off, len, leaseId),
        });
      }
    } else {
      // Large extents go in ≥ 1 MiB pieces, several in flight (faster than one 4 MiB call).
      const piece = Math.min(
        MAX_PAGE_WRITE,
        Math.max(MIN_PIECE, Math.ceil(e.length / opts.writeConcurrency / 512) * 512),
      );
      for (let off = 0; off < e.length; off += piece) {
        const chunk = e.data.subarray(off, Math.min(e.length, off + piece));
        jobs.push({
          bytes: chunk.length,
          run: () => deps.blobs.uploadPages(REPLICAS, replica, e.offset + off, chunk, leaseId),
        });
      }
    }
  }
  // Small scattered writes are bound by the service's per-request latency, not bytes: keep more
  // of them in flight (up to SMALL_OPS_IN_FLIGHT) while large ones stay at writeConcurrency.
  const bytes = jobs.reduce((n, j) => n + j.bytes, 0);
  const limit = Math.min(
    SMALL_OPS_IN_FLIGHT,
    Math.max(
      opts.writeConcurrency,
      Math.floor(WRITE_BYTES_IN_FLIGHT / Math.max(1, bytes / jobs.length)),
    ),
  );
  await mapLimit(jobs, limit, (j) => j.run());
}

/**
 * The digest of every 64 KiB block a batch touched: from the batch's own bytes when its
 * extents cover the block, else read back from the replica (after the writes).
 */
export async function touchedBlockDigests(
  deps: ReplicationDeps,
  replica: string,
  diskSize: number,
  extents: DecodedExtent[],
): Promise<Map<number, Buffer>> {
  type Seg = { at: number; len: number; data?: Buffer };
  const perBlock = new Map<number, Seg[]>();
  for (const e of extents) {
    const end = e.offset + e.length;
    for (let b = Math.floor(e.offset / DIGEST_BLOCK); b * DIGEST_BLOCK < end; b++) {
      const bs = b * DIGEST_BLOCK;
      const from = Math.max(bs, e.offset);
      const to = Math.min(bs + DIGEST_BLOCK, end, diskSize);
      const seg: Seg = { at: from - bs, len: to - from };
      if (e.kind === 'data') seg.data = e.data.subarray(from - e.offset, to - e.offset);
      let list = perBlock.get(b);
      if (!list) perBlock.set(b, (list = []));
      list.push(seg);
    }
  }
  const out = new Map<number, Buffer>();
  const readBack: number[] = [];
  for (const [b, segs] of perBlock) {
    const blockLen = Math.min(DIGEST_BLOCK, diskSize - b * DIGEST_BLOCK);
    const covered = segs.reduce((n, s) => n + s.len, 0);
    if (covered < blockLen) {
      readBack.push(b);
      continue;
    }
    if (segs.length === 1 && segs[0]!.data) {
      out.set(b, blockDigest(segs[0]!.data));
    } else if (segs.every((s) => !s.data)) {
      out.set(b, blockDigest(Buffer.alloc(blockLen)));
    } else {
      const buf = Buffer.alloc(blockLen);
      for (const s of segs) if (s.data) s.data.copy(buf, s.at);
      out.set(b, blockDigest(buf));
    }
  }
  readBack.sort((a, z) => a - z);
  // Contiguous runs of partially covered blocks are read in one call each.
  const runs: [number, number][] = [];
  for (const b of readBack) {
    const last = runs[runs.length - 1];
    if (last && last[1] === b - 1 && b - last[0] < 64) last[1] = b;
    else runs.push([b, b]);
  }
  await mapLimit(runs, SMALL_OPS_IN_FLIGHT, async ([first, last]) => {
    const start = first * DIGEST_BLOCK;
    const end = Math.min((last + 1) * DIGEST_BLOCK, diskSize);
    const buf = await deps.blobs.readRange(REPLICAS, replica, start, end - start);
    for (let b = first; b <= last; b++) {
      const s = (b - first) * DIGEST_BLOCK;
      out.set(b, blockDigest(buf.subarray(s, Math.min(s + DIGEST_BLOCK, buf.length))));
    }
  });
  return out;
}

/**
 * A bookmark reached this disk: digest tree, change set since the previous point, snapshot,
 * piece document, then the change bitmap starts over. Re-running after a crash reuses a
 * piece already recorded (the replica has not moved past the bookmark: the watermark hasn't).
 */
async function cutPiece(
  deps: ReplicationDeps,
  key: DiskKey,
  replica: string,
  index: ReplicaIndex,
  h: BatchHeader,
): Promise<PieceDoc> {
  const bookmark = h.bookmark!;
  const id = pieceDocId(bookmark.id, key.diskId);
  const existing = await deps.docs.points.get(key.machineId, id);
  if (
    existing &&
    existing.doc.type === 'piece' &&
    existing.doc.seq === h.seq &&
    existing.doc.generation === key.generation
  ) {
    await index.clearChanged();
    return existing.doc;
  }
  if (existing) {
    throw conflict(
      `Bookmark ${bookmark.id} was already cut on disk ${key.diskId} at another seq/generation.`,
    );
  }
  const changed = await index.readChanged();
  const sha256 = await index.pointDigest(changed);
  const changes = changeSetBlobName(key.machineId, key.diskId, key.generation, bookmark.id);
  await deps.blobs.putBlockBlob(REPLICA_INDEX, changes, changed, {
    pointId: bookmark.id,
    seq: String(h.seq),
  });
  const snapshot = await deps.blobs.createSnapshot(REPLICAS, replica, {
    pointId: bookmark.id,
    seq: String(h.seq),
    sha256,
  });
  const piece: PieceDoc = {
    id,
    type: 'piece',
    machineId: key.machineId,
    pointId: bookmark.id,
    diskId: key.diskId,
    generation: key.generation,
    seq: h.seq,
    blob: replica,
    snapshot,
    sha256,
    sizeBytes: h.diskSize,
    changes,
    changedBlocks: popcount(changed),
    bookmark,
    createdAt: new Date(deps.clock()).toISOString(),
  };
  await deps.docs.points.create(piece);
  await index.clearChanged();
  return piece;
}

interface Applied {
  seq: number;
  digest: string;
  bytes: number;
  name: string;
  /** The claim-checked envelope's copy in `batches/`, when staging holds a pointer. */
  batch?: string;
}

/** Moves the watermark past the applied batches (ETag-checked: a lost lease cannot move it twice). */
async function advance(
  deps: ReplicationDeps,
  state: VersionedDisk,
  applied: Applied[],
  piece: PieceDoc | undefined,
): Promise<VersionedDisk> {
  const now = deps.clock();
  const last = applied[applied.length - 1]!;
  const bytes = applied.reduce((n, a) => n + a.bytes, 0);
  const minute = Math.floor(now / 60_000);
  const churn = state.doc.churn.filter((c) => c.minute > minute - 60);
  const cur = churn.find((c) => c.minute === minute);
  if (cur) cur.bytes += bytes;
  else churn.push({ minute, bytes });
  const doc: DiskReplicationDoc = {
    ...state.doc,
    appliedSeq: last.seq,
    recent: [...state.doc.recent, ...applied.map((a) => ({ seq: a.seq, sha256: a.digest }))].slice(
      -RECENT_DIGESTS,
    ),
    batchesApplied: state.doc.batchesApplied + applied.length,
    bytesApplied: state.doc.bytesApplied + bytes,
    churn,
    lastAppliedAt: new Date(now).toISOString(),
    updatedAt: new Date(now).toISOString(),
    ...(piece
      ? {
          complete: true,
          lastPoint: { pointId: piece.pointId, seq: piece.seq, time: piece.bookmark.createdAt },
        }
      : {}),
  };
  try {
    return await deps.docs.disks.replace(doc, { ifMatch: state.etag });
  } catch (e) {
    if (isHavenError(e) && e.kind === 'precondition') {
      throw conflict(
        `Watermark of ${state.doc.diskId} g${state.doc.generation} moved under us (lease lost?); stopping this drain.`,
      );
    }
    throw e;
  }
}

/** Staged blobs at or below the watermark: same digest → delete (late duplicate); other → conflict. */
async function dropLateDuplicates(
  deps: ReplicationDeps,
  key: DiskKey,
  state: VersionedDisk,
): Promise<void> {
  const prefix = `${key.machineId}/${key.diskId}/${key.generation}/`;
  const staged = await deps.blobs.list(STAGING, prefix, { max: 64 });
  for (const item of staged) {
    const seq = Number(item.name.slice(prefix.length));
    if (!(seq <= state.doc.appliedSeq)) break; // sorted: the rest are ahead of the watermark
    const seen = state.doc.recent.find((r) => r.seq === seq);
    if (seen && item.metadata.sha256 && seen.sha256 !== item.metadata.sha256) {
      await stopDisk(
        deps,
        { ...key, diskSize: state.doc.diskSize, seq },
        'replication-conflict',
        `Late batch ${item.name} differs from the applied one (sha256 ${item.metadata.sha256.slice(0, 12)}… vs ${seen.sha256.slice(0, 12)}…); the disk is stopped.`,
      );
      return;
    }
    await deleteStaged(deps, item.name, item.metadata.batch);
  }
}
