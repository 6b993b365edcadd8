import type { ProtectedItemState } from '../controlPlane/protectedItemState';
import type { PlansPart } from '../plans';
import { planMachines } from '../plans/planRun';
import type { PlanFacts } from './guards';

/** States where a machine runs in Azure (or is on its way there or back). */
const inAzure: ReadonlySet<ProtectedItemState> = new Set([
  'failing-over',
  'failed-over',
  'committed',
  'reprotecting',
  'reprotected',
  'failing-back',
]);

/** What the guards need to know of a plan, read now. */
export async function planFacts(
  plans: PlansPart,
  machineState: (machineId: string) => Promise<{ state?: ProtectedItemState; test: boolean }>,
  planName: string,
): Promise<PlanFacts> {
  const plan = await plans.plans.find(planName);
  if (!plan) return { exists: false, failedOver: false, testRunning: false };
  const run = await plans.service.runOf(planName);
  let failedOver = false;
  let testRunning = false;
  for (const m of planMachines(plan.groups)) {
    const s = await machineState(m);
    if (s.state && inAzure.has(s.state)) failedOver = true;
    if (s.test) testRunning = true;
    if (failedOver && testRunning) break;
  }
  return {
    exists: true,
    ...(run?.active
      ? {
          active: {
            jobId: run.active.jobId,
            operation: run.active.operation,
            automated: run.active.automated,
          },
        }
      : {}),
    failedOver,
    testRunning,
    ...(run?.lastAutomated ? { lastAutomatedAt: run.lastAutomated.at } : {}),
  };
}
