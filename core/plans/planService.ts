import type { Jobs } from '../controlPlane/jobs';
import type { JobDoc } from '../controlPlane/model';
import type { JobLauncher } from '../controlPlane/protection';
import type { Collection, DocumentStore } from '../documents/ports';
import { conflict, HavenError, isHavenError } from '../errors';
import type { IdempotencyKeys } from '../recovery/idempotency';
import { planCollectionsDefs, type PlanRunDoc } from './model';
import type { MachineOutcome } from './planOutcome';
import { machinesToRestart } from './planOutcome';
import {
  DRILL_JOB,
  needsPoint,
  planJobType,
  planOperationOfJob,
  type PlanOperationType,
} from './planOperations';
import type { PlanPointResolver } from './planPointSource';
import { groupsToRun, planMachines, type GroupRun } from './planRun';
import { redactGroups } from './planSecrets';
import type { Plans } from './plans';

export interface PlanRequest {
  point?: string;
  planned?: boolean;
}

export interface PlanStartOptions {
  idempotencyKey?: string;
  launcher?: JobLauncher;
  /** `admin`, `schedule`, `alert:<decision>`, `job:<parent>`. */
  startedBy?: string;
  parentJobId?: string;
  /** Started by an alert decision (cooldown counts from its end). */
  automated?: boolean;
  /** A restart: only these machines. */
  only?: string[];
  restartOf?: string;
  /** Drills: manual actions are skipped (nobody is there to answer). */
  unattended?: boolean;
  /** Runs under a job that holds the plan (a drill): no claim of its own. */
  heldBy?: string;
}

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

export interface PlanStartResult {
  job: JobDoc;
  created: boolean;
  input: PlanJobInput;
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

/**
 * Starts operations on recovery plans (issue 13 §1). One operation at a time per plan: the
 * plan's run document is claimed with an ETag, and released by the saga when it ends. Every
 * refusal (unknown plan, busy plan, no fitting point) happens before anything is written.
 */
export class PlanService {
  private readonly runs: Collection<PlanRunDoc>;
  constructor(
    private readonly d: {
      documents: DocumentStore;
      plans: Plans;
      jobs: Jobs;
      keys: IdempotencyKeys;
      resolvePoints: PlanPointResolver;
      clock: () => number;
    },
  ) {
    this.runs = d.documents.collection(planCollectionsDefs.planRuns);
  }

  private now = () => new Date(this.d.clock()).toISOString();
  private scope = (plan: string) => `plan:${plan}`;

  async start(
    op: PlanOperationType,
    planName: string,
    body: PlanRequest,
    opts: PlanStartOptions = {},
  ): Promise<PlanStartResult> {
    const { jobs, keys } = this.d;
    const type = planJobType(op);
    if (opts.idempotencyKey) {
      const earlier = await keys.lookup(this.scope(planName), type, opts.idempotencyKey, body);
      if (earlier) return this.resume(await jobs.get(earlier), opts);
    }
    const plan = (await this.d.plans.get(planName)).doc;
    const run = await this.runs.get(planName, planName);
    if (opts.heldBy) {
      if (run?.doc.active?.jobId !== opts.heldBy)
        throw conflict(`Plan '${planName}' is not held by job '${opts.heldBy}'.`);
    } else if (run?.doc.active) {
      const active = await jobs.get(run.doc.active.jobId).catch(() => undefined);
      // Claimed, but its start failed (Durable unavailable): a repeated request starts it.
      if (active?.state === 'queued' && active.type === type) return this.resume(active, opts);
      throw conflict(`Job '${run.doc.active.jobId}' is already running on plan '${planName}'.`, {
        jobId: run.doc.active.jobId,
      });
    }
    const planned = body.planned === true;
    const groups = groupsToRun(plan.groups, op, planned, opts.only);
    if (!groups.length) throw conflict(`Plan '${planName}' has no machine to run.`);
    const machines = planMachines(groups);
    const choice = needsPoint(op, planned) ? (body.point ?? plan.pointChoice) : undefined;
    const resolved = choice ? await this.d.resolvePoints(machines, choice) : undefined;
    const input: PlanJobInput = {
      planName,
      operation: op,
      planned,
      ...(choice ? { choice } : {}),
      points: resolved?.byMachine ?? {},
      notes: resolved?.notes ?? {},
      groups: redactGroups(groups),
      maxParallel: plan.maxParallel,
      automated: opts.automated === true,
      unattended: opts.unattended === true,
      ...(opts.restartOf ? { restartOf: opts.restartOf } : {}),
    };
    const job = await jobs.create(type, {
      startedBy: opts.startedBy ?? 'admin',
      ...(opts.parentJobId ? { parentJobId: opts.parentJobId } : {}),
      ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
      steps: stepsOfRun(groups),
      allowedActions: ['cancel'],
    });
    if (opts.idempotencyKey) {
      const winner = await keys.record(
        this.scope(planName),
        type,
        opts.idempotencyKey,
        body,
        job.id,
      );
      if (winner !== job.id) {
        await jobs.discard(job.id);
        return this.resume(await jobs.get(winner), opts);
      }
    }
    try {
      if (!opts.heldBy) await this.claim(planName, job.id, op, input.automated);
    } catch (e) {
      await jobs.discard(job.id).catch(() => undefined);
      throw e;
    }
    await jobs.update(job.id, {
      result: {
        plan: planName,
        operation: op,
        input,
        ...(resolved && Object.keys(resolved.groupPoints).length
          ? { groupPoints: resolved.groupPoints }
          : {}),
      },
    });
    await opts.launcher?.start(job, input as unknown as Record<string, unknown>);
    return { job: await jobs.get(job.id), created: true, input };
  }

  /** A job an earlier request started: launched again if it never started. */
  private async resume(job: JobDoc, opts: PlanStartOptions): Promise<PlanStartResult> {
    const input = job.result?.input as PlanJobInput | undefined;
    if (!input) throw new HavenError('internal', `Job '${job.id}' has no saved input.`);
    if (job.state === 'queued')
      await opts.launcher?.start(job, input as unknown as Record<string, unknown>);
    return { job, created: false, input };
  }

  /** Restarts a plan job for the machines that did not succeed (a new job). */
  async restart(jobId: string, opts: PlanStartOptions = {}): Promise<PlanStartResult> {
    const job = await this.d.jobs.get(jobId);
    const op = planOperationOfJob(job.type);
    const input = job.result?.input as PlanJobInput | undefined;
    if (!op || !input) throw conflict(`Job '${jobId}' is not a recovery plan job.`);
    if (!job.allowedActions?.includes('restart'))
      throw conflict(`Job '${jobId}' is ${job.state}: nothing to restart.`, { state: job.state });
    const machines = machinesToRestart((job.result?.machines ?? []) as MachineOutcome[]);
    return this.start(
      op,
      input.planName,
      {
        ...(input.choice ? { point: input.choice } : {}),
        ...(input.planned ? { planned: true } : {}),
      },
      { ...opts, only: machines, restartOf: jobId, automated: false },
    );
  }

  /** The plan's run facts (absent: never ran). */
  async runOf(planName: string): Promise<PlanRunDoc | undefined> {
    return (await this.runs.get(planName, planName))?.doc;
  }

  private async claim(
    planName: string,
    jobId: string,
    op: PlanOperationType | 'drill',
    automated: boolean,
  ) {
    const active = { jobId, operation: op, since: this.now(), automated };
    for (let attempt = 0; attempt < 10; attempt++) {
      const cur = await this.runs.get(planName, planName);
      if (cur?.doc.active && cur.doc.active.jobId !== jobId)
        throw conflict(`Job '${cur.doc.active.jobId}' is already running on plan '${planName}'.`, {
          jobId: cur.doc.active.jobId,
        });
      try {
        if (!cur) await this.runs.create({ id: planName, active, updatedAt: this.now() });
        else
          await this.runs.replace(
            { ...cur.doc, active, updatedAt: this.now() },
            { ifMatch: cur.etag },
          );
        return;
      } catch (e) {
        if (!(isHavenError(e) && (e.kind === 'precondition' || e.kind === 'conflict'))) throw e;
      }
    }
    throw conflict(`Plan '${planName}' is busy.`);
  }

  /**
   * Starts a drill of the plan (issue 13 §3): its own job holds the plan while the drill runs a
   * test failover, checks health, cleans up and writes the report.
   */
  async startDrill(
    planName: string,
    body: { point?: string },
    opts: { startedBy: string; launcher?: JobLauncher },
  ): Promise<{ job: JobDoc; input: DrillJobInput }> {
    const plan = (await this.d.plans.get(planName)).doc;
    const input: DrillJobInput = {
      planName,
      point: body.point ?? plan.drill?.point ?? 'latest-processed',
      startedBy: opts.startedBy,
    };
    // Refused before anything is written when no point fits.
    await this.d.resolvePoints(planMachines(plan.groups), input.point);
    const job = await this.d.jobs.create(DRILL_JOB, {
      startedBy: opts.startedBy,
      steps: ['test-failover', 'health', 'cleanup', 'report'],
      allowedActions: [],
    });
    try {
      await this.claim(planName, job.id, 'drill', false);
    } catch (e) {
      await this.d.jobs.discard(job.id).catch(() => undefined);
      throw e;
    }
    await this.d.jobs.update(job.id, { result: { plan: planName, input } });
    await opts.launcher?.start(job, input as unknown as Record<string, unknown>);
    return { job: await this.d.jobs.get(job.id), input };
  }

  /**
   * Releases the plan when its operation ends (idempotent: only this job's claim is cleared).
   * An automated operation starts the cooldown of the plan's triggers.
   */
  async release(planName: string, jobId: string, decisionId?: string): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const cur = await this.runs.get(planName, planName);
      if (!cur || cur.doc.active?.jobId !== jobId) return;
      const { active, ...rest } = cur.doc;
      const next: PlanRunDoc = {
        ...rest,
        ...(active.automated
          ? {
              lastAutomated: {
                jobId,
                operation: active.operation,
                at: this.now(),
                ...(decisionId ? { decisionId } : {}),
              },
            }
          : {}),
        updatedAt: this.now(),
      };
      try {
        await this.runs.replace(next, { ifMatch: cur.etag });
        return;
      } catch (e) {
        if (!(isHavenError(e) && e.kind === 'precondition')) throw e;
      }
    }
  }

  /** Records when the drill schedule fires next. */
  async setNextDrill(planName: string, at: string | undefined): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const cur = await this.runs.get(planName, planName);
      const doc: PlanRunDoc = { ...(cur?.doc ?? { id: planName }), updatedAt: this.now() };
      if (at) doc.nextDrillAt = at;
      else delete doc.nextDrillAt;
      try {
        if (cur) await this.runs.replace(doc, { ifMatch: cur.etag });
        else await this.runs.create(doc);
        return;
      } catch (e) {
        if (!(isHavenError(e) && (e.kind === 'precondition' || e.kind === 'conflict'))) throw e;
      }
    }
  }

  /** Every plan's run facts (the drill timer reads them). */
  async allRuns(): Promise<PlanRunDoc[]> {
    const out: PlanRunDoc[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.runs.query({ limit: 500, ...(continuation ? { continuation } : {}) });
      out.push(...page.items.map((x) => x.doc));
      continuation = page.continuation;
    } while (continuation);
    return out;
  }
}
