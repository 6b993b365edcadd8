import type { Jobs } from '../controlPlane/jobs';
import type { JobDoc } from '../controlPlane/model';
import type { JobLauncher } from '../controlPlane/protection';
import type { DocumentStore } from '../documents/ports';
import { conflict, HavenError } from '../errors';
import type { IdempotencyKeys } from '../recovery/idempotency';
import type { PlanRunDoc } from './model';
import { stepsOfRun, type DrillJobInput, type PlanJobInput } from './planJobInput';
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
import { groupsToRun, planMachines } from './planRun';
import { PlanRuns } from './planRuns';
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

export interface PlanStartResult {
  job: JobDoc;
  created: boolean;
  input: PlanJobInput;
}

/**
 * Starts operations on recovery plans (issue 13 §1). One operation at a time per plan: the
 * plan's run document is claimed with an ETag, and released by the saga when it ends. Every
 * refusal (unknown plan, busy plan, no fitting point) happens before anything is written.
 */
export class PlanService {
  private readonly runs: PlanRuns;
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
    this.runs = new PlanRuns(d.documents, d.clock);
  }

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
    const run = await this.runs.get(planName);
    if (opts.heldBy) {
      if (run?.active?.jobId !== opts.heldBy)
        throw conflict(`Plan '${planName}' is not held by job '${opts.heldBy}'.`);
    } else if (run?.active) {
      const active = await jobs.get(run.active.jobId).catch(() => undefined);
      // Claimed, but its start failed (Durable unavailable): a repeated request starts it.
      if (active?.state === 'queued' && active.type === type) return this.resume(active, opts);
      throw conflict(`Job '${run.active.jobId}' is already running on plan '${planName}'.`, {
        jobId: run.active.jobId,
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
      if (!opts.heldBy) await this.runs.claim(planName, job.id, op, input.automated);
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
  runOf(planName: string): Promise<PlanRunDoc | undefined> {
    return this.runs.get(planName);
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
      await this.runs.claim(planName, job.id, 'drill', false);
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
  release(planName: string, jobId: string, decisionId?: string): Promise<void> {
    return this.runs.release(planName, jobId, decisionId);
  }

  /** Records when the drill schedule fires next. */
  setNextDrill(planName: string, at: string | undefined): Promise<void> {
    return this.runs.setNextDrill(planName, at);
  }

  /** Every plan's run facts (the drill timer reads them). */
  allRuns(): Promise<PlanRunDoc[]> {
    return this.runs.all();
  }
}
