import { RecoveryJob, type RecoveryJobType } from '../recovery/operations';
import type { ActionOperationType, Direction, PlanAction } from './planSchema';

/**
 * The operations on a recovery plan (issue 13 §1), the per-machine recovery job each runs, the
 * job types, and which actions run for which operation. Saga names are strings here so the
 * control plane does not load saga code (as in core/recovery/operations.ts).
 */
export const PlanOperation = {
  testFailover: 'test-failover',
  testFailoverCleanup: 'test-failover-cleanup',
  failover: 'failover',
  changePoint: 'change-recovery-point',
  commit: 'commit',
  cancel: 'cancel-failover',
} as const;
export type PlanOperationType = (typeof PlanOperation)[keyof typeof PlanOperation];
export const planOperations = Object.values(PlanOperation) as PlanOperationType[];

/** The recovery job each machine of the plan runs. */
export const machineJobOf: Record<PlanOperationType, RecoveryJobType> = {
  [PlanOperation.testFailover]: RecoveryJob.testFailover,
  [PlanOperation.testFailoverCleanup]: RecoveryJob.testFailoverCleanup,
  [PlanOperation.failover]: RecoveryJob.failover,
  [PlanOperation.changePoint]: RecoveryJob.changePoint,
  [PlanOperation.commit]: RecoveryJob.commit,
  [PlanOperation.cancel]: RecoveryJob.cancel,
};

/** Job types: `plan-<operation>` for plan operations, a drill, an alert decision. */
export const planJobType = (op: PlanOperationType): string => `plan-${op}`;
export const DRILL_JOB = 'plan-drill';
export const ALERT_DECISION_JOB = 'alert-decision';

/** Registered orchestration names (orchestrations/). */
export const PLAN_OPERATION_ORCHESTRATION = 'planOperation';
export const DRILL_ORCHESTRATION = 'planDrill';
export const ALERT_DECISION_ORCHESTRATION = 'alertDecision';

export const planOrchestrationForJob: Record<string, string> = {
  ...Object.fromEntries(
    planOperations.map((op) => [planJobType(op), PLAN_OPERATION_ORCHESTRATION]),
  ),
  [DRILL_JOB]: DRILL_ORCHESTRATION,
  [ALERT_DECISION_JOB]: ALERT_DECISION_ORCHESTRATION,
};

export const isPlanJobType = (type: string): boolean => type.startsWith('plan-');

/** The plan operation of a plan job type, or undefined for other jobs. */
export function planOperationOfJob(type: string): PlanOperationType | undefined {
  const op = type.slice('plan-'.length);
  return (planOperations as string[]).includes(op) && type.startsWith('plan-')
    ? (op as PlanOperationType)
    : undefined;
}

/** The action scope of an operation: only test and (un)planned failovers run actions. */
export function actionScopeOf(
  op: PlanOperationType,
  planned: boolean,
): ActionOperationType | undefined {
  if (op === PlanOperation.testFailover) return 'test';
  if (op === PlanOperation.failover) return planned ? 'planned' : 'unplanned';
  return undefined;
}

/** Whether an action runs for this operation type and direction. */
export function actionApplies(
  action: Pick<PlanAction, 'operations' | 'direction'>,
  scope: ActionOperationType | undefined,
  direction: Direction = 'failover',
): boolean {
  return scope !== undefined && action.direction === direction && action.operations.includes(scope);
}

/** Operations whose machines need a point choice (a planned failover uses its final bookmark). */
export function needsPoint(op: PlanOperationType, planned: boolean): boolean {
  return (
    op === PlanOperation.testFailover ||
    op === PlanOperation.changePoint ||
    (op === PlanOperation.failover && !planned)
  );
}
