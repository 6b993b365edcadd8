import type { BatchHeader } from '../batch';
import { conflict } from '../errors';
import { REPLICA_INDEX, REPLICAS, changeSetBlobName, type DiskKey } from './names';
import type { ReplicationDeps } from './ports';
import { popcount } from './bitmaps';
import { ReplicaIndex } from './replicaIndex';
import { pieceDocId, type PieceDoc } from './state';

/**
 * A bookmark reached this disk: digest tree, change set since the previous point, snapshot,
 * piece document. The caller then starts the change bitmap over (`index.clearChanged`) before
 * the watermark moves. Re-running after a crash reuses a piece already recorded (the replica
 * was not written past the bookmark before it was: `applyGroups.ts`).
 */
export async function cutPiece(
  deps: ReplicationDeps,
  key: DiskKey,
  replica: string,
  index: ReplicaIndex,
  h: BatchHeader,
): Promise<PieceDoc> {
  const bookmark = h.bookmark!;
  const id = pieceDocId(bookmark.id, key.diskId);
  // Round trips in parallel where nothing orders them: a point is on the RPO's critical path.
  const [existing, changed] = await Promise.all([
    deps.docs.points.get(key.machineId, id),
    index.readChanged(),
  ]);
  if (
    existing &&
    existing.doc.type === 'piece' &&
    existing.doc.seq === h.seq &&
    existing.doc.generation === key.generation
  ) {
    return existing.doc;
  }
  if (existing) {
    throw conflict(
      `Bookmark ${bookmark.id} was already cut on disk ${key.diskId} at another seq/generation.`,
    );
  }
  const changes = changeSetBlobName(key.machineId, key.diskId, key.generation, bookmark.id);
  const [sha256] = await Promise.all([
    index.pointDigest(changed),
    deps.blobs.putBlockBlob(REPLICA_INDEX, changes, changed, {
      pointId: bookmark.id,
      seq: String(h.seq),
    }),
  ]);
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
  return piece;
}
