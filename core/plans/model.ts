import type { CollectionDef } from '../documents/ports';
import type { DrillSchedule, PlanGroup } from './planSchema';
import type { PlanOperationType } from './planOperations';

/** Stored documents of recovery plans and drills. */

export interface PlanDoc {
  id: string; // = name
  name: string;
  description?: string;
  /** Sorted by id; webhook secrets stored as given (every view redacts them). */
  groups: PlanGroup[];
  pointChoice: string;
  maxParallel: number;
  drill?: DrillSchedule;
  createdAt: string;
  updatedAt: string;
}

/**
 * A plan's runtime facts, kept apart from the plan itself so that running operations never
 * move the plan's ETag under an operator editing it.
 */
export interface PlanRunDoc {
  id: string; // = plan name
  /** The operation now running on the plan (one at a time, claimed with an ETag). */
  active?: {
    jobId: string;
    operation: PlanOperationType | 'drill';
    since: string;
    /** Started by an alert decision (not a person). */
    automated: boolean;
  };
  /** The last operation an alert started (cooldown counts from its end). */
  lastAutomated?: { jobId: string; operation: string; at: string; decisionId?: string };
  /** When the drill schedule next fires (absent: not scheduled). */
  nextDrillAt?: string;
  updatedAt: string;
}

/** One machine in a drill report. */
export interface DrillMachine {
  machineId: string;
  pointId?: string;
  pointTime?: string;
  /** Its test failover job: from start until the VM answered its probe. */
  bootSeconds?: number;
  /** Drill start → this machine's health probe passed. */
  rtoSeconds?: number;
  /** Drill start − point time: the data this recovery would have lost. */
  rpoSeconds?: number;
  health: 'ok' | 'failed' | 'not-checked';
  error?: string;
}

export interface DrillReportDoc {
  id: string; // = drill job id
  planName: string;
  startedAt: string;
  endedAt?: string;
  /** Who started it: `schedule` or `admin`. */
  startedBy: string;
  point: string;
  state: 'running' | 'succeeded' | 'partially-succeeded' | 'failed';
  testJobId?: string;
  cleanupJobId?: string;
  machines: DrillMachine[];
  /** Drill start → the last machine healthy (absent when some never were). */
  rtoSeconds?: number;
  /** The largest per-machine RPO. */
  rpoSeconds?: number;
  /** What the cleanup left behind in the target (none expected). */
  leftovers: string[];
  error?: string;
}

export const planCollectionsDefs = {
  recoveryPlans: { name: 'recoveryPlans', partitionKey: 'id' },
  planRuns: { name: 'planRuns', partitionKey: 'id' },
  drillReports: {
    name: 'drillReports',
    partitionKey: 'planName',
    orderings: [[{ field: 'startedAt', direction: 'desc' }]],
  },
} satisfies Record<string, CollectionDef>;

export const planCollections: CollectionDef[] = Object.values(planCollectionsDefs);
