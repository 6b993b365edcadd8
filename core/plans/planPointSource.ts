import type { ConsistencyGroups } from '../controlPlane/consistencyGroups';
import { groupCollectionsDefs, type GroupMembershipDoc } from '../controlPlane/groupModel';
import type { DocumentStore } from '../documents/ports';
import { groupRecoveryPoint } from '../replication/groupPoints';
import type { ReplicationDeps } from '../replication/ports';
import { planPointChoices, type GroupPointCandidate, type PlanPointChoices } from './planPoints';

/** Decides each machine's point for a plan operation (refusals as HavenErrors). */
export type PlanPointResolver = (machines: string[], choice: string) => Promise<PlanPointChoices>;

/** How many of a group's newest cuts are looked at for a complete barrier one. */
const CUTS_LOOKED_AT = 20;

/**
 * Plan point choice over the stored memberships and cuts: only `latest-group` reads anything
 * (each machine's consistency group, and per group its newest cuts until a complete one with
 * every member held); other choices pass through.
 */
export function planPointResolver(
  documents: DocumentStore,
  groups: Pick<ConsistencyGroups, 'listBookmarks'>,
  replication: ReplicationDeps,
): PlanPointResolver {
  const memberships = documents.collection<GroupMembershipDoc>(
    groupCollectionsDefs.groupMemberships,
  );
  return async (machines, choice) => {
    if (choice !== 'latest-group') return planPointChoices(machines, choice, {}, {});
    const groupOf: Record<string, string | undefined> = {};
    for (let i = 0; i < machines.length; i += 100) {
      const chunk = machines.slice(i, i + 100);
      const page = await memberships.query({
        where: [{ field: 'machineId', op: 'in', value: chunk }],
        limit: chunk.length,
      });
      for (const m of page.items) groupOf[m.doc.machineId] = m.doc.groupId;
    }
    const cuts: Record<string, GroupPointCandidate[]> = {};
    for (const g of new Set(Object.values(groupOf).filter((x): x is string => !!x))) {
      const page = await groups.listBookmarks(g, { limit: CUTS_LOOKED_AT });
      const list: GroupPointCandidate[] = [];
      for (const { doc: cut } of page.items) {
        const p = await groupRecoveryPoint(replication, cut, 0);
        const complete = p.state === 'complete';
        list.push({ id: cut.id, time: cut.cutAt ?? cut.createdAt, complete, barrier: p.barrier });
        if (complete && p.barrier) break; // the newest such cut is the answer
      }
      cuts[g] = list;
    }
    return planPointChoices(machines, choice, groupOf, cuts);
  };
}
