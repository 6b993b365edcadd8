import { isHavenError } from '../../core/errors';
import type { DrillReportDoc } from '../../core/plans/model';
import type { PlanOperationType } from '../../core/plans/planOperations';
import type { PlanJobInput } from '../../core/plans/planJobInput';
import type { PlanRequest, PlanStartOptions } from '../../core/plans/planService';
import { webhookTarget } from '../../core/plans/planSecrets';
import { isoTime } from '../../core/plans/drillReport';
import { recoveryOrchestrationForJob, type RecoveryJobType } from '../../core/recovery/operations';
import { planDeps } from './planDeps';
import { targetOf } from './recoveryDeps';

/** Activities of the plan, drill and decision sagas besides the recovery ones they reuse. */
export const PlanActivity = {
  facts: 'Plan_Facts',
  startMachine: 'Plan_StartMachine',
  startPlan: 'Plan_StartPlan',
  release: 'Plan_Release',
  webhook: 'Plan_Webhook',
  probe: 'Plan_Probe',
  leftovers: 'Plan_Leftovers',
  saveDrill: 'Plan_SaveDrill',
} as const;

/** A refusal (wrong state, unknown point, busy): an outcome, never retried. */
const refusal = (e: unknown): { refused: string } | undefined =>
  isHavenError(e) && ['conflict', 'not-found', 'validation'].includes(e.kind)
    ? { refused: e.message }
    : undefined;

async function facts(): Promise<{ pollMs: number }> {
  return { pollMs: (await planDeps()).recovery.timing.pollMs };
}

export type StartedMachine =
  { jobId: string; orchestration: string; input: Record<string, unknown> } | { refused: string };

/**
 * Creates a machine's recovery job under the plan job (the same checks and claims as the
 * machine's own API) and returns what the plan saga needs to run it as a sub-orchestration.
 * Idempotent: the Idempotency-Key is the plan job and the machine.
 */
async function startMachine(i: {
  planJobId: string;
  machineId: string;
  operation: RecoveryJobType;
  point?: string;
  planned?: boolean;
}): Promise<StartedMachine> {
  const { root } = await planDeps();
  let input: Record<string, unknown> | undefined;
  try {
    const r = await root.recovery.service.start(
      i.operation,
      i.machineId,
      { ...(i.point ? { point: i.point } : {}), ...(i.planned ? { planned: true } : {}) },
      {
        idempotencyKey: `${i.planJobId}:${i.machineId}`,
        startedBy: `job:${i.planJobId}`,
        parentJobId: i.planJobId,
        launcher: {
          start: async (_job, inp) => {
            input = inp;
          },
        },
      },
    );
    if (!input) return { refused: `job ${r.job.id} of this plan job already started` };
    return { jobId: r.job.id, orchestration: recoveryOrchestrationForJob[i.operation], input };
  } catch (e) {
    const r = refusal(e);
    if (r) return r;
    throw e;
  }
}

export type StartedPlan = { jobId: string; input: PlanJobInput } | { refused: string };

/** A plan operation as a child of a drill or an alert decision (the caller runs the saga). */
async function startPlan(i: {
  operation: PlanOperationType;
  planName: string;
  body: PlanRequest;
  opts: Omit<PlanStartOptions, 'launcher'>;
}): Promise<StartedPlan> {
  const { root } = await planDeps();
  try {
    const r = await root.plans.service.start(i.operation, i.planName, i.body, i.opts);
    return { jobId: r.job.id, input: r.input };
  } catch (e) {
    const r = refusal(e);
    if (r) return r;
    throw e;
  }
}

async function release(i: { planName: string; jobId: string; decisionId?: string }) {
  await (await planDeps()).root.plans.service.release(i.planName, i.jobId, i.decisionId);
  return true;
}

export interface WebhookOutcome {
  ok: boolean;
  /** Host and path: never the query or headers. */
  target: string;
  status?: number;
  error?: string;
  retryable: boolean;
}

/**
 * One webhook call: the URL and headers come from the stored plan (the saga's history never
 * holds them), the body is the plan context. Never throws; nothing about the URL's query or
 * the headers is logged or returned.
 */
async function webhook(i: {
  planName: string;
  action: string;
  context: Record<string, unknown>;
  idempotencyKey: string;
  attempt: number;
}): Promise<WebhookOutcome> {
  const d = await planDeps();
  const plan = await d.root.plans.plans.find(i.planName);
  const a = plan?.groups.flatMap((g) => [...g.pre, ...g.post]).find((x) => x.name === i.action);
  if (a?.kind !== 'webhook')
    return {
      ok: false,
      target: '?',
      error: 'the action is no longer in the plan',
      retryable: false,
    };
  const target = webhookTarget(a.url);
  try {
    const res = await d.webhookFetch(a.url, {
      method: a.method,
      headers: {
        ...a.headers,
        'content-type': 'application/json',
        'idempotency-key': i.idempotencyKey,
        'x-haven-attempt': String(i.attempt),
      },
      body: JSON.stringify(i.context),
      signal: AbortSignal.timeout(a.timeoutSeconds * 1000),
    });
    await res.arrayBuffer().catch(() => undefined);
    const ok = a.expectedStatus.includes(res.status);
    return {
      ok,
      target,
      status: res.status,
      retryable: !ok && (res.status === 408 || res.status === 429 || res.status >= 500),
    };
  } catch (e) {
    const timeout = (e as Error).name === 'TimeoutError';
    return { ok: false, target, error: timeout ? 'timed out' : 'unreachable', retryable: true };
  }
}

export interface ProbeOutcome {
  machineId: string;
  ok: boolean;
  detail: string;
  at: string;
}

/** The machine's recovered VM (its test VM for a test) answers its health probe. Never throws. */
async function probe(i: { machineId: string; test: boolean }): Promise<ProbeOutcome> {
  const d = await planDeps();
  const at = () => isoTime(d.root.clock());
  const rec = await d.root.recovery.records.get(i.machineId);
  const vm = i.test ? rec.test?.vm : rec.failover?.vm;
  if (!vm) return { machineId: i.machineId, ok: false, detail: 'no recovered VM', at: at() };
  if (!vm.publicIp)
    return { machineId: i.machineId, ok: false, detail: 'no public IP to probe', at: at() };
  const p = (await d.root.recovery.settings.get(i.machineId)).settings.probe;
  try {
    const res = await d.recovery.fetch(`http://${vm.publicIp}:${p.port}${p.path}`, {
      signal: AbortSignal.timeout(2000),
    });
    await res.arrayBuffer().catch(() => undefined);
    const ok = res.status === p.expectedStatus;
    return { machineId: i.machineId, ok, detail: `HTTP ${res.status}`, at: at() };
  } catch {
    return { machineId: i.machineId, ok: false, detail: 'no answer', at: at() };
  }
}

/** Resources still tagged with one of the machines' jobs (what a cleanup left behind). */
async function leftovers(i: {
  machines: { machineId: string; jobId: string }[];
}): Promise<string[]> {
  const d = await planDeps();
  const target = targetOf(d.recovery);
  const jobs = new Set(i.machines.map((m) => m.jobId));
  const groups = new Set<string>();
  for (const m of i.machines)
    groups.add((await d.root.recovery.settings.get(m.machineId)).settings.resourceGroup);
  const out: string[] = [];
  for (const rg of groups)
    for (const r of await target.list(rg))
      if (jobs.has(r.tags['haven-job'] ?? '')) out.push(`${r.type.split('/').pop()}/${r.name}`);
  return out.sort();
}

async function saveDrill(i: { report: DrillReportDoc }): Promise<true> {
  await (await planDeps()).root.plans.drills.save(i.report);
  return true;
}

export const planActivities: Record<string, (input: never) => Promise<unknown>> = {
  [PlanActivity.facts]: facts,
  [PlanActivity.startMachine]: startMachine,
  [PlanActivity.startPlan]: startPlan,
  [PlanActivity.release]: release,
  [PlanActivity.webhook]: webhook,
  [PlanActivity.probe]: probe,
  [PlanActivity.leftovers]: leftovers,
  [PlanActivity.saveDrill]: saveDrill,
};
