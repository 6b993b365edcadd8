import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import {
  outcomeCounts,
  planAllowedActions,
  planJobState,
  type MachineOutcome,
} from '../core/plans/planOutcome';
import { PLAN_OPERATION_ORCHESTRATION } from '../core/plans/planOperations';
import type { PlanJobInput } from '../core/plans/planJobInput';
import { PlanActivity } from './activities/planActivities';
import { runAction } from './planActions';
import { runGroup } from './planFanOut';
import { PlanSaga } from './planSaga';
import { firstLine } from './sagaErrors';

/**
 * A recovery plan operation (issue 13 §1): groups in order; per group its pre-actions, its
 * machines in parallel (bounded), its post-actions. A machine failing does not strand the
 * others: the job ends `partially-succeeded` with each machine's outcome and can be restarted
 * for the machines that did not succeed. A failed action stops the plan before the next step
 * (the machines not reached are `skipped`). A cancel stops starting anything new. Whatever
 * happens, the plan is released at the end (an automated operation starts its cooldown).
 */
export const PLAN_OPERATION = PLAN_OPERATION_ORCHESTRATION;

export interface PlanOperationResult {
  state: string;
  machines: MachineOutcome[];
}

export const planOperationOrchestrator: OrchestrationHandler = function* (
  ctx: OrchestrationContext,
) {
  const input = ctx.df.getInput() as PlanJobInput;
  const s = new PlanSaga(ctx);
  for (const g of input.groups)
    for (const id of g.machines)
      s.machines.set(id, {
        machineId: id,
        group: g.id,
        state: 'pending',
        ...(input.points[id] ? { choice: input.points[id] } : {}),
        ...(input.notes[id] ? { note: input.notes[id] } : {}),
      });
  let failure: string | undefined;
  try {
    yield s.job({
      state: 'running',
      percent: 0,
      stepName: 'starting',
      allowedActions: ['cancel'],
      result: s.progress(),
    });
    const { pollMs } = (yield s.call(PlanActivity.facts, {})) as { pollMs: number };
    const stop = () => s.cancelled || failure !== undefined;
    for (const g of input.groups) {
      for (const a of g.pre) {
        if (stop()) break;
        const o = yield* runAction(s, input, g, 'pre', a, pollMs);
        if (o.state === 'failed')
          failure = `group ${g.id} pre-action ${a.name}: ${o.detail ?? 'failed'}`;
      }
      if (stop()) break;
      yield* runGroup(s, input, g);
      for (const a of g.post) {
        if (stop()) break;
        const o = yield* runAction(s, input, g, 'post', a, pollMs);
        if (o.state === 'failed')
          failure = `group ${g.id} post-action ${a.name}: ${o.detail ?? 'failed'}`;
      }
      if (stop()) break;
    }
  } catch (e) {
    failure = firstLine(e);
  }
  for (const m of s.machines.values())
    if (m.state === 'pending' || m.state === 'running')
      Object.assign(m, { state: 'skipped', note: s.cancelled ? 'cancelled' : 'not reached' });
  const machines = [...s.machines.values()];
  const state = planJobState(machines, s.actions, s.cancelled);
  yield s.call(PlanActivity.release, { planName: input.planName, jobId: s.jobId });
  yield s.job({
    state,
    percent: 100,
    stepName: state,
    result: { ...s.progress(), summary: outcomeCounts(machines) },
    allowedActions: planAllowedActions(state, machines),
    ...(failure ? { error: { kind: 'plan-stopped', message: failure } } : {}),
  });
  return { state, machines } satisfies PlanOperationResult;
};
