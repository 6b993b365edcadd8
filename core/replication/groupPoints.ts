import type { Consistency } from '../batch';
import type { ReplicationDeps } from './ports';
import { getRecoveryPoint } from './recoveryPoints';
import type { RecoveryPoint } from './recoveryPointApi';
import type { RecoveryPointDoc } from './state';

/** A consistency group's cut as the control plane recorded it (core/controlPlane/groupModel.ts). */
export interface GroupCut {
  id: string;
  groupId: string;
  /** Members at cut time: exactly these must publish the point. */
  members: readonly string[];
  consistency: Consistency;
  createdAt: string;
}

/**
 * A group recovery point: `complete` once every member at cut time has its point for the cut's
 * bookmark id durable (`materialized` once every member's is) (then `machines` holds them, one per member); `pending` while some are
 * `missing`; `expired` when members are still missing after the agents' pick-up window (an
 * agent offline that long, or a member point retention already dropped).
 */
export interface GroupRecoveryPoint {
  id: string;
  groupId: string;
  time: string;
  consistency: Consistency;
  state: 'complete' | 'pending' | 'expired';
  /**
   * Every member held its writes at the cut (a timed cut through the write splitter): the point
   * is consistent across machines, not only within each one (docs/consistencyGroups.md).
   */
  barrier: boolean;
  /** Every member's point is materialized (has its snapshots); until then using it drives hydration. */
  materialized: boolean;
  members: string[];
  missing: string[];
  machines: RecoveryPoint[];
}

/** Whether `machineId` published its point for the group's bookmark. */
async function memberPoint(
  deps: ReplicationDeps,
  machineId: string,
  cut: { id: string; groupId: string },
): Promise<boolean> {
  const found = await deps.docs.points.get(machineId, cut.id);
  const doc = found?.doc as RecoveryPointDoc | undefined;
  return doc?.type === 'point' && doc.groupId === cut.groupId;
}

/** The state of one cut; `expiredBefore` (epoch ms): a cut older than this no longer waits. */
export async function groupRecoveryPoint(
  deps: ReplicationDeps,
  cut: GroupCut,
  expiredBefore: number,
): Promise<GroupRecoveryPoint> {
  const published = await Promise.all(cut.members.map((m) => memberPoint(deps, m, cut)));
  const missing = cut.members.filter((_, i) => !published[i]);
  const complete = missing.length === 0 && cut.members.length > 0;
  const machines = complete
    ? await Promise.all(cut.members.map((m) => getRecoveryPoint(deps, m, cut.id)))
    : [];
  return {
    id: cut.id,
    groupId: cut.groupId,
    time: cut.createdAt,
    consistency: cut.consistency,
    state: complete
      ? 'complete'
      : Date.parse(cut.createdAt) < expiredBefore
        ? 'expired'
        : 'pending',
    barrier: complete && machines.every((p) => p.barrier === true),
    materialized: complete && machines.every((p) => p.materialized),
    members: [...cut.members],
    missing,
    machines,
  };
}

/**
 * The pending cuts a machine's agent still has to insert: those whose point the machine has
 * already published are reported to `done` (the control plane forgets them) and left out.
 */
export async function cutsToInsert<C extends { id: string; groupId: string }>(
  deps: ReplicationDeps,
  machineId: string,
  pending: readonly C[],
  done: (cutId: string) => Promise<void>,
): Promise<C[]> {
  const out: C[] = [];
  for (const c of pending) {
    if (await memberPoint(deps, machineId, c)) await done(c.id);
    else out.push(c);
  }
  return out;
}
