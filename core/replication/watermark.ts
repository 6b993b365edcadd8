import { conflict, isHavenError } from '../errors';
import { stopDisk } from './incidents';
import { STAGING, type DiskKey } from './names';
import { pointTime } from './pointDocs';
import type { ReplicationDeps } from './ports';
import { deleteStaged } from './stagedBatch';
import {
  RECENT_DIGESTS,
  type DiskReplicationDoc,
  type PieceDoc,
  type VersionedDisk,
} from './state';

export interface Applied {
  seq: number;
  digest: string;
  bytes: number;
  name: string;
  /** The claim-checked envelope's copy in `batches/`, when staging holds a pointer. */
  batch?: string;
}

/** Moves the watermark past the applied batches (ETag-checked: a lost lease cannot move it twice). */
export async function advance(
  deps: ReplicationDeps,
  state: VersionedDisk,
  applied: Applied[],
  piece: PieceDoc | undefined,
  bookmarkAt?: string,
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
    ...(bookmarkAt ? { lastBookmarkAt: bookmarkAt } : {}),
    ...(piece
      ? {
          complete: true,
          // Dated like its point: never ahead of the server clock (pointDocs.pointTime).
          lastPoint: {
            pointId: piece.pointId,
            seq: piece.seq,
            time: pointTime(piece.bookmark.createdAt, now).time,
          },
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
export async function dropLateDuplicates(
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
