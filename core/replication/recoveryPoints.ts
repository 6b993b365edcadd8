import { isHavenError, notFound } from '../errors';
import { REPLICAS, REPLICA_INDEX, indexBlobName, replicaBlobName } from './names';
import { DEFAULT_RETENTION, type ReplicationDeps, type RetentionPolicy } from './ports';
import { orBitmaps } from './replicaIndex';
import type { PieceDoc, PointDiskPiece, RecoveryPointDoc } from './state';

/** The API shape of a recovery point. */
export interface RecoveryPoint {
  id: string;
  machineId: string;
  time: string;
  consistency: 'crash' | 'app';
  groupId?: string;
  generation: number;
  disks: {
    diskId: string;
    generation: number;
    snapshot: string;
    sha256: string;
    sizeBytes: number;
    changedBlocks: number;
  }[];
}

function toApi(p: RecoveryPointDoc): RecoveryPoint {
  return {
    id: p.id,
    machineId: p.machineId,
    time: p.time,
    consistency: p.consistency,
    ...(p.groupId ? { groupId: p.groupId } : {}),
    generation: p.generation,
    disks: p.disks.map((d) => ({
      diskId: d.diskId,
      generation: d.generation,
      snapshot: d.snapshot,
      sha256: d.sha256,
      sizeBytes: d.sizeBytes,
      changedBlocks: d.changedBlocks,
    })),
  };
}

async function piecesOf(
  deps: ReplicationDeps,
  machineId: string,
  pointId: string,
): Promise<PieceDoc[]> {
  const page = await deps.docs.points.query({
    partitionKey: machineId,
    where: [
      { field: 'type', op: '=', value: 'piece' },
      { field: 'pointId', op: '=', value: pointId },
    ],
    limit: 1000,
  });
  return page.items.map((i) => i.doc as PieceDoc);
}

/**
 * Publishes the point once every protected disk of the machine has its piece. Every disk
 * hydrator calls it after recording its own piece; the last one to arrive sees them all
 * (create is idempotent: a 409 means another hydrator published it).
 */
export async function publishPoint(
  deps: ReplicationDeps,
  machineId: string,
  pointId: string,
): Promise<RecoveryPoint | undefined> {
  const existing = await deps.docs.points.get(machineId, pointId);
  if (existing?.doc.type === 'point') return toApi(existing.doc);
  const machine = await deps.machines.getMachine(machineId);
  if (!machine) return undefined;
  const protectedDisks = machine.disks.filter((d) => d.protected).map((d) => d.diskId);
  if (protectedDisks.length === 0) return undefined;
  const pieces = await piecesOf(deps, machineId, pointId);
  const byDisk = new Map(pieces.map((p) => [p.diskId, p]));
  if (!protectedDisks.every((d) => byDisk.has(d))) return undefined;
  const chosen = protectedDisks.sort().map((d) => byDisk.get(d)!);
  const bookmark = chosen[0]!.bookmark;
  const doc: RecoveryPointDoc = {
    id: pointId,
    type: 'point',
    machineId,
    time: bookmark.createdAt,
    consistency: bookmark.consistency,
    ...(bookmark.groupId ? { groupId: bookmark.groupId } : {}),
    generation: Math.max(...chosen.map((p) => p.generation)),
    disks: chosen.map((p): PointDiskPiece => ({
      diskId: p.diskId,
      generation: p.generation,
      seq: p.seq,
      blob: p.blob,
      snapshot: p.snapshot,
      sha256: p.sha256,
      sizeBytes: p.sizeBytes,
      changes: p.changes,
      changedBlocks: p.changedBlocks,
    })),
    publishedAt: new Date(deps.clock()).toISOString(),
  };
  try {
    await deps.docs.points.create(doc);
  } catch (e) {
    if (!(isHavenError(e) && e.kind === 'conflict')) throw e;
  }
  deps.log?.('recovery point published', { machineId, pointId, disks: chosen.length });
  return toApi(doc);
}

async function allPoints(deps: ReplicationDeps, machineId: string): Promise<RecoveryPointDoc[]> {
  const out: RecoveryPointDoc[] = [];
  let continuation: string | undefined;
  do {
    const page = await deps.docs.points.query({
      partitionKey: machineId,
      where: [{ field: 'type', op: '=', value: 'point' }],
      orderBy: [{ field: 'time', direction: 'desc' }],
      limit: 1000,
      ...(continuation ? { continuation } : {}),
    });
    out.push(...page.items.map((i) => i.doc as RecoveryPointDoc));
    continuation = page.continuation;
  } while (continuation);
  return out;
}

/** Published points of a machine, newest first. */
export async function listRecoveryPoints(
  deps: ReplicationDeps,
  machineId: string,
  opts: { limit?: number; continuation?: string } = {},
): Promise<{ items: RecoveryPoint[]; continuation?: string }> {
  const page = await deps.docs.points.query({
    partitionKey: machineId,
    where: [{ field: 'type', op: '=', value: 'point' }],
    orderBy: [{ field: 'time', direction: 'desc' }],
    limit: opts.limit ?? 100,
    ...(opts.continuation ? { continuation: opts.continuation } : {}),
  });
  return {
    items: page.items.map((i) => toApi(i.doc as RecoveryPointDoc)),
    ...(page.continuation ? { continuation: page.continuation } : {}),
  };
}

/** A published point; `not-found` until every disk has its piece. */
export async function getRecoveryPoint(
  deps: ReplicationDeps,
  machineId: string,
  pointId: string,
): Promise<RecoveryPoint> {
  const found = await deps.docs.points.get(machineId, pointId);
  if (!found || found.doc.type !== 'point') throw notFound('Recovery point', pointId);
  return toApi(found.doc);
}

/** Short-lived read-only URL of one disk's snapshot at a point (the agent's restore reads it; strip the VHD footer). */
export async function recoveryPointReadUrl(
  deps: ReplicationDeps,
  machineId: string,
  pointId: string,
  diskId: string,
  ttlSec: number,
): Promise<{
  url: string;
  expiresAt: string;
  sizeBytes: number;
  sha256: string;
  snapshot: string;
}> {
  const found = await deps.docs.points.get(machineId, pointId);
  if (!found || found.doc.type !== 'point') throw notFound('Recovery point', pointId);
  const disk = found.doc.disks.find((d) => d.diskId === diskId);
  if (!disk) throw notFound('Disk of recovery point', `${pointId}/${diskId}`);
  const url = await deps.blobs.readUrl(REPLICAS, disk.blob, ttlSec, disk.snapshot);
  return {
    url,
    expiresAt: new Date(deps.clock() + ttlSec * 1000).toISOString(),
    sizeBytes: disk.sizeBytes,
    sha256: disk.sha256,
    snapshot: disk.snapshot,
  };
}

const HOUR = 3600_000;
const bucketMs = { hourly: HOUR, daily: 24 * HOUR, weekly: 7 * 24 * HOUR } as const;

/** Which points a policy keeps at `now` (pure; points newest first). */
export function pointsToKeep(
  points: readonly { id: string; time: string }[],
  policy: RetentionPolicy,
  now: number,
): Set<string> {
  const keep = new Set<string>();
  if (points.length) keep.add(points[0]!.id); // never drop the newest point
  const seenBuckets = new Set<string>();
  for (const p of points) {
    const t = Date.parse(p.time);
    const age = now - t;
    if (age <= policy.retentionHours * HOUR) {
      keep.add(p.id);
      continue;
    }
    for (const rule of policy.thinning) {
      if (age > rule.forHours * HOUR) continue;
      const bucket = `${rule.keep}:${Math.floor(t / bucketMs[rule.keep])}`;
      // Newest first: the first point seen in a bucket is its newest.
      if (!seenBuckets.has(bucket)) {
        seenBuckets.add(bucket);
        keep.add(p.id);
      }
    }
  }
  return keep;
}

/**
 * Applies the machine's retention: drops points (snapshots, pieces, documents) the policy no
 * longer keeps. A dropped point's change set is merged into the next newer point of the same
 * disk and generation, so "changed since the previous point" stays true across the gap.
 * Also removes the replicas of superseded generations once no point needs them.
 */
export async function applyRetention(
  deps: ReplicationDeps,
  machineId: string,
): Promise<{ dropped: string[] }> {
  const machine = await deps.machines.getMachine(machineId);
  const policy = machine?.retention ?? DEFAULT_RETENTION;
  const points = await allPoints(deps, machineId);
  const keep = pointsToKeep(points, policy, deps.clock());
  const dropped: string[] = [];
  // Oldest first, so merged change sets keep flowing forward.
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i]!;
    if (keep.has(p.id)) continue;
    for (const d of p.disks) {
      // The next newer point of this disk+generation (kept, or merged forward when it is dropped in turn).
      const newer = points
        .slice(0, i)
        .reverse()
        .map((q) => q.disks.find((x) => x.diskId === d.diskId && x.generation === d.generation))
        .find((x) => x !== undefined);
      if (newer) {
        const [mine, theirs] = await Promise.all([
          deps.blobs.readBlob(REPLICA_INDEX, d.changes),
          deps.blobs.readBlob(REPLICA_INDEX, newer.changes),
        ]);
        if (mine && theirs)
          await deps.blobs.putBlockBlob(
            REPLICA_INDEX,
            newer.changes,
            orBitmaps(mine.data, theirs.data),
            theirs.metadata,
          );
      }
      await deps.blobs.deleteSnapshot(REPLICAS, d.blob, d.snapshot);
      await deps.blobs.deleteBlob(REPLICA_INDEX, d.changes);
    }
    // Document last: if we crash above, the next run redoes the (idempotent) work.
    const pieces = await piecesOf(deps, machineId, p.id);
    for (const piece of pieces) await deps.docs.points.delete(machineId, piece.id);
    await deps.docs.points.delete(machineId, p.id);
    dropped.push(p.id);
  }
  await dropSupersededGenerations(
    deps,
    machineId,
    points.filter((p) => !dropped.includes(p.id)),
  );
  return { dropped };
}

async function dropSupersededGenerations(
  deps: ReplicationDeps,
  machineId: string,
  remaining: RecoveryPointDoc[],
): Promise<void> {
  const gens = await deps.docs.disks.query({ partitionKey: machineId, limit: 1000 });
  const docs = gens.items.map((i) => i.doc);
  for (const d of docs) {
    const live = Math.max(
      0,
      ...docs.filter((x) => x.diskId === d.diskId && x.complete).map((x) => x.generation),
    );
    if (d.generation >= live) continue;
    const needed = remaining.some((p) =>
      p.disks.some((x) => x.diskId === d.diskId && x.generation === d.generation),
    );
    if (needed) continue;
    await deps.blobs.deleteBlob(REPLICAS, replicaBlobName(machineId, d.diskId, d.generation));
    await deps.blobs.deleteBlob(REPLICA_INDEX, indexBlobName(machineId, d.diskId, d.generation));
    deps.log?.('superseded replica generation removed', {
      machineId,
      diskId: d.diskId,
      generation: d.generation,
    });
  }
}
