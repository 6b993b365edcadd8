import type { PlanOperationType } from './planOperations';
import type { GroupRun } from './planRun';

/**
 * What a plan job's and a drill job's sagas are given, and the step names of a plan job: shared
 * by the service that starts them and the deterministic sagas that run them.
 */

/** Input of the drill saga. */
export interface DrillJobInput {
  planName: string;
  point: string;
  startedBy: string;
}

/** Input of the plan saga (kept in its history: webhook secrets are not in it, only names). */
export interface PlanJobInput {
  planName: string;
  operation: PlanOperationType;
  planned: boolean;
  choice?: string;
  /** The point each machine's saga is given (a named choice or a point id). */
  points: Record<string, string>;
  notes: Record<string, string>;
  groups: GroupRun[];
  maxParallel: number;
  automated: boolean;
  unattended: boolean;
  restartOf?: string;
}

/** Step names of a plan job: each group's pre-actions, its machines, its post-actions. */
export const groupStep = (g: number) => `group ${g}`;
export const actionStep = (g: number, phase: 'pre' | 'post', name: string) =>
  `group ${g} ${phase} ${name}`;
export const stepsOfRun = (groups: readonly GroupRun[]): string[] =>
  groups.flatMap((g) => [
    ...g.pre.map((a) => actionStep(g.id, 'pre', a.name)),
    groupStep(g.id),
    ...g.post.map((a) => actionStep(g.id, 'post', a.name)),
  ]);
