import type { BatchBookmark } from '../batch';
import { isHavenError } from '../errors';
import { isMaterialized } from './pointDocs';
import type { ReplicationDeps, ReplicationOptions } from './ports';
import type { MergedPointDoc } from './state';

/**
 * Catching up by merging across bookmarks. A group of batches ends at a bookmark because its
 * snapshot must show exactly the batches before it, so with a bookmark every second a hydrator
 * that fell behind merged at most a second of churn per group and paid a snapshot, an index
 * flush and a point per second of backlog: under sustained random churn it never caught up.
 * While it is more than `catchUpAfterMs` behind, a plain crash-consistent bookmark with more
 * batches staged after it is merged past: its point, durable until then, becomes a
 * `merged-point` marker (it never gets a snapshot), and the group goes on. What stays:
 * - the first bookmark of every `catchUpKeepEveryMs` bucket of bookmark time (deterministic, so
 *   every disk of a machine keeps the same ones and those points materialize);
 * - app-consistent, group and barrier bookmarks;
 * - the newest bookmark staged (a group ends where the staged batches do): the latest point,
 *   what failover asks for, is always materialized;
 * - a point someone pinned (`materializeUpTo`: a failover or restore waiting for it), and one
 *   not durable yet (nothing to drop; it is cut as before).
 */
export function mayMergePast(
  opts: Pick<ReplicationOptions, 'catchUpAfterMs' | 'catchUpKeepEveryMs'>,
  bookmark: BatchBookmark,
  previousAt: string | undefined,
  now: number,
): boolean {
  if (bookmark.consistency !== 'crash' || bookmark.groupId || bookmark.barrier) return false;
  const at = Date.parse(bookmark.createdAt);
  if (!(now - at > opts.catchUpAfterMs)) return false;
  if (previousAt === undefined) return false;
  const bucket = (t: number) => Math.floor(t / opts.catchUpKeepEveryMs);
  return bucket(at) === bucket(Date.parse(previousAt));
}

/**
 * Replaces the durable point of a bookmark the hydrator is about to merge past by a
 * `merged-point` marker (ETag-checked against a pin written meanwhile). True when the point is
 * merged (by this call or another disk's hydrator); false, and the bookmark is cut as usual,
 * when it is pinned, materialized, or not durable yet.
 */
export async function dropMergedPoint(
  deps: ReplicationDeps,
  machineId: string,
  pointId: string,
): Promise<boolean> {
  const found = await deps.docs.points.get(machineId, pointId);
  if (found?.doc.type === 'merged-point') return true;
  if (!found || found.doc.type !== 'point' || isMaterialized(found.doc) || found.doc.pinned)
    return false;
  const marker: MergedPointDoc = {
    id: pointId,
    type: 'merged-point',
    machineId,
    time: found.doc.time,
    mergedAt: new Date(deps.clock()).toISOString(),
  };
  try {
    await deps.docs.points.replace(marker, { ifMatch: found.etag });
  } catch (e) {
    if (isHavenError(e) && (e.kind === 'precondition' || e.kind === 'not-found')) return false;
    throw e;
  }
  deps.log?.('recovery point merged into a later one (hydration catching up)', {
    machineId,
    pointId,
  });
  return true;
}

/**
 * Keeps a durable point from being merged past: whoever waits for it to materialize pins it
 * first. False when it is gone (merged past, or dropped by retention).
 */
export async function pinPoint(
  deps: ReplicationDeps,
  machineId: string,
  pointId: string,
): Promise<boolean> {
  for (;;) {
    const found = await deps.docs.points.get(machineId, pointId);
    if (!found || found.doc.type !== 'point') return false;
    if (found.doc.pinned || isMaterialized(found.doc)) return true;
    try {
      await deps.docs.points.replace({ ...found.doc, pinned: true }, { ifMatch: found.etag });
      return true;
    } catch (e) {
      if (!(isHavenError(e) && (e.kind === 'precondition' || e.kind === 'not-found'))) throw e;
    }
  }
}
