import { notFound, transient } from '../errors';
import { REPLICAS, REPLICA_INDEX, indexBlobName, replicaBlobName } from './names';
import { isMaterialized, pointDocOf, pointTime } from './pointDocs';
import { DEFAULT_RETENTION, type ReplicationDeps } from './ports';
import { toApi, type RecoveryPoint } from './recoveryPointApi';
import { orBitmaps } from './bitmaps';
import { HOUR, pointsToKeep } from './retentionPolicy';
import type { MergedPointDoc, PieceDoc, RecoveryPointDoc } from './state';

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

/** A point; `not-found` until it is durable (every disk's batches up to the bookmark stored). */
export async function getRecoveryPoint(
  deps: ReplicationDeps,
  machineId: string,
  pointId: string,
): Promise<RecoveryPoint> {
  const found = await pointDocOf(deps, machineId, pointId);
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
  const found = await pointDocOf(deps, machineId, pointId);
  if (!isMaterialized(found.doc)) {
    if (!(found.doc.cuts ?? []).some((c) => c.diskId === diskId))
      throw notFound('Disk of recovery point', `${pointId}/${diskId}`);
    throw transient(`Recovery point ${pointId} is durable but not materialized yet; retry.`);
  }
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

/**
 * Applies the machine's retention: drops points the policy no longer keeps (point document
 * first, so it is never listed half-deleted; a point not yet materialized is always kept: its
 * hydration would write its snapshot after the drop), then their pieces (snapshot, change set, piece
 * document), plus orphan pieces (a bookmark some disk never reached) older than the policy's
 * horizon. A dropped piece's change set is OR-ed into the next piece of the same disk and
 * generation, so "changed since the previous piece" stays a superset across the gap. Finally the
 * replicas of superseded generations go once no point needs them.
 */
export async function applyRetention(
  deps: ReplicationDeps,
  machineId: string,
): Promise<{ dropped: string[]; orphanPieces: number }> {
  const machine = await deps.machines.getMachine(machineId);
  const policy = machine?.retention ?? DEFAULT_RETENTION;
  const now = deps.clock();
  const points = await allOfType<RecoveryPointDoc>(deps, machineId, 'point', true);
  const keep = pointsToKeep(points, policy, now);
  for (const p of points) if (!isMaterialized(p)) keep.add(p.id);
  const dropped = points.filter((p) => !keep.has(p.id)).map((p) => p.id);
  for (const id of dropped) await deps.docs.points.delete(machineId, id);

  const published = new Set(points.filter((p) => keep.has(p.id)).map((p) => p.id));
  const horizonMs =
    Math.max(policy.retentionHours, ...policy.thinning.map((t) => t.forHours)) * HOUR;
  const pieces = await allOfType<PieceDoc>(deps, machineId, 'piece');
  const chains = new Map<string, PieceDoc[]>();
  for (const piece of pieces) {
    const k = `${piece.diskId}/${piece.generation}`;
    let chain = chains.get(k);
    if (!chain) chains.set(k, (chain = []));
    chain.push(piece);
  }
  const newestGen = new Map<string, number>();
  for (const p of pieces)
    newestGen.set(p.diskId, Math.max(newestGen.get(p.diskId) ?? 0, p.generation));
  let orphanPieces = 0;
  for (const chain of chains.values()) {
    chain.sort((a, b) => a.seq - b.seq);
    // In the disk's newest generation the last piece stays (its successor is the live change
    // bitmap); superseded generations have no successor to keep consistent.
    const superseded = chain[0]!.generation < newestGen.get(chain[0]!.diskId)!;
    for (let i = 0; i < chain.length - (superseded ? 0 : 1); i++) {
      const piece = chain[i]!;
      // Dated like a point: the agent's time, never far past the server's (a piece dated in the
      // future would never age out).
      const pieceTime = pointTime(piece.bookmark.createdAt, Date.parse(piece.createdAt)).time;
      const orphanAge = now - Date.parse(pieceTime);
      const drop =
        dropped.includes(piece.pointId) || (!published.has(piece.pointId) && orphanAge > horizonMs);
      if (!drop) continue;
      if (!dropped.includes(piece.pointId)) orphanPieces++;
      const next = chain[i + 1];
      const [mine, theirs] = await Promise.all([
        deps.blobs.readBlob(REPLICA_INDEX, piece.changes),
        next ? deps.blobs.readBlob(REPLICA_INDEX, next.changes) : undefined,
      ]);
      if (next && mine && theirs) {
        await deps.blobs.putBlockBlob(
          REPLICA_INDEX,
          next.changes,
          orBitmaps(mine.data, theirs.data),
          theirs.metadata,
        );
      }
      await deps.blobs.deleteSnapshot(REPLICAS, piece.blob, piece.snapshot);
      await deps.blobs.deleteBlob(REPLICA_INDEX, piece.changes);
      await deps.docs.points.delete(machineId, piece.id);
    }
  }
  // A merged point's marker (catchUp.ts) outlives its orphan pieces, then goes too.
  for (const m of await allOfType<MergedPointDoc>(deps, machineId, 'merged-point'))
    if (now - Date.parse(m.time) > horizonMs) await deps.docs.points.delete(machineId, m.id);
  await dropSupersededGenerations(
    deps,
    machineId,
    points.filter((p) => keep.has(p.id)),
  );
  return { dropped, orphanPieces };
}

/** Every document of one type in a machine's partition, all pages. */
async function allOfType<T extends RecoveryPointDoc | PieceDoc | MergedPointDoc>(
  deps: ReplicationDeps,
  machineId: string,
  type: T['type'],
  newestFirst = false,
): Promise<T[]> {
  const out: T[] = [];
  let continuation: string | undefined;
  do {
    const page = await deps.docs.points.query({
      partitionKey: machineId,
      where: [{ field: 'type', op: '=', value: type }],
      ...(newestFirst ? { orderBy: [{ field: 'time', direction: 'desc' as const }] } : {}),
      limit: 1000,
      ...(continuation ? { continuation } : {}),
    });
    out.push(...page.items.map((i) => i.doc as T));
    continuation = page.continuation;
  } while (continuation);
  return out;
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

/**
 * A multi-machine (consistency group) point: the same bookmark id published on every member
 * machine. `not-found` until each member has its point (the control plane owns membership).
 */
export async function getGroupRecoveryPoint(
  deps: ReplicationDeps,
  groupId: string,
  pointId: string,
  machineIds: readonly string[],
): Promise<{ id: string; groupId: string; time: string; machines: RecoveryPoint[] }> {
  const points = await Promise.all(machineIds.map((m) => deps.docs.points.get(m, pointId)));
  const missing = machineIds.filter((_, i) => points[i]?.doc.type !== 'point');
  if (missing.length || machineIds.length === 0) {
    throw notFound('Group recovery point', `${groupId}/${pointId}`);
  }
  const docs = points.map((p) => p!.doc as RecoveryPointDoc);
  if (docs.some((d) => d.groupId !== groupId)) {
    throw notFound('Group recovery point', `${groupId}/${pointId}`);
  }
  return { id: pointId, groupId, time: docs[0]!.time, machines: docs.map(toApi) };
}
