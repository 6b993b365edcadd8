import * as df from 'durable-functions';
import type { ActivityHandler, OrchestrationHandler } from 'durable-functions';
import { alertActivities } from './activities/alertActivities';
import { planActivities } from './activities/planActivities';
import { ALERT_DECISION, alertDecisionOrchestrator } from './alertDecision';
import { PLAN_DRILL, planDrillOrchestrator } from './planDrill';
import { PLAN_OPERATION, planOperationOrchestrator } from './planOperation';
import type { ActivityWrapper } from './registerEnableProtection';

/** The plan, drill and alert-decision sagas by registered name (core/plans/planOperations.ts). */
export const planOrchestrators: Record<string, OrchestrationHandler> = {
  [PLAN_OPERATION]: planOperationOrchestrator,
  [PLAN_DRILL]: planDrillOrchestrator,
  [ALERT_DECISION]: alertDecisionOrchestrator,
};

/** Registers the plan sagas and their activities (they also call the recovery activities). */
export function registerPlans(wrap: ActivityWrapper = (_n, h) => h): void {
  for (const [name, fn] of Object.entries(planOrchestrators)) df.app.orchestration(name, fn);
  for (const [name, handler] of Object.entries({ ...planActivities, ...alertActivities })) {
    df.app.activity(name, { handler: wrap(name, handler) as unknown as ActivityHandler });
  }
}
