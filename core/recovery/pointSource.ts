import type { ConsistencyGroups } from '../controlPlane/consistencyGroups';
import { isHavenError } from '../errors';
import { groupRecoveryPoint } from '../replication/groupPoints';
import type { ReplicationDeps } from '../replication/ports';
import { listRecoveryPoints } from '../replication/recoveryPoints';
import type { CandidatePoint } from './pointChoice';

/** What the recovery half reads of recovery points. */
export interface PointSource {
  /** The machine's published points, newest first (at most `limit`). */
  list(machineId: string, limit?: number): Promise<CandidatePoint[]>;
  /** 'published' (durable); 'pending' while the bookmark is not stored for every disk; undefined: unknown. */
  status(machineId: string, pointId: string): Promise<'published' | 'pending' | undefined>;
  /** Every member at the cut published it (a complete group point). */
  groupComplete(groupId: string, pointId: string): Promise<boolean>;
}

/** Over the data path's documents and the control plane's group cuts. */
export function replicationPointSource(
  deps: ReplicationDeps,
  groups: Pick<ConsistencyGroups, 'getBookmark'>,
): PointSource {
  return {
    async list(machineId, limit = 200) {
      return (await listRecoveryPoints(deps, machineId, { limit })).items;
    },
    async status(machineId, pointId) {
      const found = await deps.docs.points.get(machineId, pointId);
      if (found?.doc.type === 'point') return 'published';
      // Merged into a later point while hydration caught up: orphan pieces do not make it pending.
      if (found?.doc.type === 'merged-point') return undefined;
      const pieces = await deps.docs.points.query({
        partitionKey: machineId,
        where: [
          { field: 'type', op: '=', value: 'piece' },
          { field: 'pointId', op: '=', value: pointId },
        ],
        limit: 1,
      });
      return pieces.items.length ? 'pending' : undefined;
    },
    async groupComplete(groupId, pointId) {
      try {
        const cut = await groups.getBookmark(groupId, pointId);
        return (await groupRecoveryPoint(deps, cut, 0)).state === 'complete';
      } catch (e) {
        if (isHavenError(e) && e.kind === 'not-found') return false;
        throw e;
      }
    },
  };
}
