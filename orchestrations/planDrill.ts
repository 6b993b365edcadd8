import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { drillReport, type DrillHealth } from '../core/plans/drillReport';
import type { DrillReportDoc } from '../core/plans/model';
import { DRILL_ORCHESTRATION, PlanOperation } from '../core/plans/planOperations';
import type { DrillJobInput } from '../core/plans/planJobInput';
import { PlanActivity, type ProbeOutcome, type StartedPlan } from './activities/planActivities';
import { PLAN_OPERATION, type PlanOperationResult } from './planOperation';
import { PlanSaga, type Gen } from './planSaga';
import { firstLine } from './sagaErrors';

/**
 * A DR drill (issue 13 §3): the plan's test failover at the drill's point (manual actions
 * skipped: nobody is there), each recovered machine's health probe, the cleanup, and a report
 * with RTO, achieved RPO and leftovers. Test failovers never touch production replication.
 * The drill job holds the plan throughout; its two plan jobs are its children.
 */
export const PLAN_DRILL = DRILL_ORCHESTRATION;

const HEALTH_WAIT_MS = 60_000;

/** Runs a plan operation as a child of the drill; its result, or the refusal as an error. */
function* child(
  s: PlanSaga,
  input: DrillJobInput,
  operation: 'test-failover' | 'test-failover-cleanup',
  body: Record<string, unknown>,
  onJob: (jobId: string) => void,
): Gen<PlanOperationResult> {
  const st = (yield s.call(PlanActivity.startPlan, {
    operation,
    planName: input.planName,
    body,
    opts: {
      heldBy: s.jobId,
      parentJobId: s.jobId,
      startedBy: `job:${s.jobId}`,
      unattended: true,
      idempotencyKey: `${s.jobId}:${operation}`,
    },
  })) as StartedPlan;
  if ('refused' in st) throw new Error(st.refused);
  onJob(st.jobId);
  return (yield s.ctx.df.callSubOrchestrator(
    PLAN_OPERATION,
    st.input,
    st.jobId,
  )) as PlanOperationResult;
}

export const planDrillOrchestrator: OrchestrationHandler = function* (ctx: OrchestrationContext) {
  const input = ctx.df.getInput() as DrillJobInput;
  const s = new PlanSaga(ctx);
  const report: DrillReportDoc = {
    id: s.jobId,
    planName: input.planName,
    startedAt: s.iso(),
    startedBy: input.startedBy,
    point: input.point,
    state: 'running',
    machines: [],
    leftovers: [],
  };
  const step = (name: string, state: 'running' | 'succeeded' | 'failed', detail?: string) =>
    s.job({
      stepName: name,
      steps: [
        {
          name,
          state,
          ...(state === 'running' ? { startedAt: s.iso() } : { endedAt: s.iso() }),
          ...(detail ? { detail } : {}),
        },
      ],
    });
  yield s.job({
    state: 'running',
    percent: 0,
    allowedActions: [],
    result: { plan: input.planName },
  });
  yield s.call(PlanActivity.saveDrill, { report });
  const { pollMs } = (yield s.call(PlanActivity.facts, {})) as { pollMs: number };

  let test: PlanOperationResult | undefined;
  let error: string | undefined;
  yield step('test-failover', 'running');
  try {
    test = yield* child(s, input, PlanOperation.testFailover, { point: input.point }, (id) => {
      report.testJobId = id;
    });
    yield step('test-failover', test.state === 'succeeded' ? 'succeeded' : 'failed', test.state);
  } catch (e) {
    error = `test failover: ${firstLine(e)}`;
    yield step('test-failover', 'failed', error);
  }

  // Health: each recovered machine answers its probe (retried for a minute).
  yield step('health', 'running');
  const health: Record<string, DrillHealth> = {};
  let pending = (test?.machines ?? [])
    .filter((m) => m.state === 'succeeded')
    .map((m) => m.machineId);
  const deadline = s.now().getTime() + HEALTH_WAIT_MS;
  while (pending.length) {
    const rs = (yield ctx.df.Task.all(
      pending.map((machineId) => s.call(PlanActivity.probe, { machineId, test: true })),
    )) as ProbeOutcome[];
    for (const r of rs) health[r.machineId] = { ok: r.ok, at: r.at, detail: r.detail };
    pending = rs.filter((r) => !r.ok).map((r) => r.machineId);
    if (!pending.length || s.now().getTime() >= deadline) break;
    yield s.timer(pollMs);
  }
  yield step(
    'health',
    pending.length ? 'failed' : 'succeeded',
    pending.length ? `unhealthy: ${pending.join(', ')}` : undefined,
  );

  let cleanupFailed: string | undefined;
  yield step('cleanup', 'running');
  try {
    const c = yield* child(s, input, PlanOperation.testFailoverCleanup, {}, (id) => {
      report.cleanupJobId = id;
    });
    if (c.state !== 'succeeded')
      cleanupFailed = c.machines
        .filter((m) => m.state !== 'succeeded')
        .map((m) => `${m.machineId}: ${m.error ?? m.state}`)
        .join('; ');
  } catch (e) {
    cleanupFailed = firstLine(e);
  }
  yield step('cleanup', cleanupFailed ? 'failed' : 'succeeded', cleanupFailed);

  yield step('report', 'running');
  const leftovers = (yield s.call(PlanActivity.leftovers, {
    machines: (test?.machines ?? []).flatMap((m) =>
      m.jobId ? [{ machineId: m.machineId, jobId: m.jobId }] : [],
    ),
  })) as string[];
  Object.assign(
    report,
    drillReport({
      startedAt: report.startedAt,
      endedAt: s.iso(),
      machines: test?.machines ?? [],
      health,
      leftovers,
      ...(cleanupFailed ? { cleanupFailed } : {}),
    }),
  );
  if (error) report.error = report.error ? `${error}; ${report.error}` : error;
  yield s.call(PlanActivity.saveDrill, { report });
  yield step('report', 'succeeded');
  yield s.call(PlanActivity.release, { planName: input.planName, jobId: s.jobId });
  const state = report.state === 'running' ? 'failed' : report.state;
  yield s.job({
    state,
    percent: 100,
    stepName: state,
    result: { report },
    ...(report.error ? { error: { kind: 'drill', message: report.error } } : {}),
  });
  return report;
};
