import type { JobLauncher } from '../controlPlane/protection';
import { drillDue, nextDrillAt } from './drillSchedule';
import type { PlanService } from './planService';
import type { Plans } from './plans';

/**
 * One tick of the drill schedule (a timer trigger): a plan with a schedule gets its next time;
 * a due drill starts (started by `schedule`) unless something runs on the plan, and the next
 * time is set either way, so a busy plan skips one drill rather than piling them up.
 */
export async function drillTick(
  d: { plans: Plans; service: PlanService; clock: () => number; launcher?: JobLauncher },
  log: (line: string) => void,
): Promise<string[]> {
  const started: string[] = [];
  const now = d.clock();
  let continuation: string | undefined;
  do {
    const page = await d.plans.list({ limit: 100, ...(continuation ? { continuation } : {}) });
    for (const { doc: plan } of page.items) {
      const run = await d.service.runOf(plan.name);
      if (!plan.drill?.enabled) {
        if (run?.nextDrillAt) await d.service.setNextDrill(plan.name, undefined);
        continue;
      }
      const next = new Date(nextDrillAt(plan.drill.schedule, now)).toISOString();
      if (!drillDue(run?.nextDrillAt, now)) {
        if (!run?.nextDrillAt) await d.service.setNextDrill(plan.name, next);
        continue;
      }
      await d.service.setNextDrill(plan.name, next);
      if (run?.active) {
        log(`drill of plan ${plan.name} skipped: job ${run.active.jobId} is running on it`);
        continue;
      }
      try {
        const { job } = await d.service.startDrill(
          plan.name,
          {},
          { startedBy: 'schedule', ...(d.launcher ? { launcher: d.launcher } : {}) },
        );
        started.push(job.id);
        log(`drill of plan ${plan.name}: job ${job.id}`);
      } catch (e) {
        log(`drill of plan ${plan.name} not started: ${(e as Error).message}`);
      }
    }
    continuation = page.continuation;
  } while (continuation);
  return started;
}
