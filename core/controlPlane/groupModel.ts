import type { Consistency } from '../batch';
import type { CollectionDef } from '../documents/ports';

/**
 * Consistency groups (architecture §1, §2 "Recovery points"): machines that share bookmark ids, so a
 * group recovery point is consistent across them. Membership can change at any time; each cut
 * records the members it was made for.
 */

export interface ConsistencyGroupDoc {
  id: string; // = name
  name: string;
  description?: string;
  createdAt: string;
  updatedAt: string;
}

/** A machine's membership: id = machineId, so a machine is in at most one group (create conflicts). */
export interface GroupMembershipDoc {
  id: string; // = machineId
  machineId: string;
  groupId: string;
  joinedAt: string;
}

/**
 * When and how a cut is taken: every member inserts it at `cutAt` (the control plane's clock)
 * and holds new writes for `holdMs` after it, so no write caused by a write after the cut on one
 * machine can precede the cut on another (docs/consistencyGroups.md "Timed cuts"). Absent on
 * cuts recorded before timed cuts: members insert those when they see them.
 */
export interface CutTiming {
  cutAt?: string;
  holdMs?: number;
}

/** A shared cut: the bookmark id every member at cut time inserts into its stream. */
export interface GroupBookmarkDoc extends CutTiming {
  id: string; // bookmark id (= the members' recovery point id)
  groupId: string;
  /** Members at cut time, sorted: exactly these must publish the point. */
  members: string[];
  consistency: Consistency;
  createdAt: string;
}

/**
 * One member's pending part of a cut (what its agent polls). Kept per machine, so a member that
 * leaves the group after the cut still learns of it. Dropped once the machine published the
 * point, and unusable after `expiresAt` (an agent offline that long never joins the cut).
 */
export interface GroupCutDoc extends CutTiming {
  id: string; // bookmark id
  machineId: string;
  groupId: string;
  consistency: Consistency;
  createdAt: string;
  expiresAt: number;
}

/** Default time from a cut's request to its `cutAt`: two of the agents' default polls. */
export const GROUP_CUT_LEAD_MS = 10_000;
/** Writes held after a timed cut: covers the members' clock uncertainty (each ≤ half of it). */
export const GROUP_CUT_HOLD_MS = 100;

/** How long a member's agent may take to pick up a cut. */
export const GROUP_CUT_TTL_MS = 24 * 3600_000;

export const groupCollectionsDefs = {
  consistencyGroups: { name: 'consistencyGroups', partitionKey: 'id' },
  groupMemberships: { name: 'groupMemberships', partitionKey: 'machineId' },
  groupBookmarks: {
    name: 'groupBookmarks',
    partitionKey: 'groupId',
    orderings: [[{ field: 'createdAt', direction: 'desc' }]],
  },
  groupCuts: {
    name: 'groupCuts',
    partitionKey: 'machineId',
    expiresAtField: 'expiresAt',
    orderings: [[{ field: 'createdAt' }]],
  },
} satisfies Record<string, CollectionDef>;
