import { conflict } from '../errors';
import type { Jobs } from '../controlPlane/jobs';
import type { JobDoc } from '../controlPlane/model';
import type { ProtectedItems } from '../controlPlane/protectedItems';
import type { JobLauncher } from '../controlPlane/protection';
import type { IdempotencyKeys } from './idempotency';
import {
  RecoveryJob,
  stepsOf,
  type RecoveryJobInput,
  type RecoveryJobType,
  type RecoveryRequest,
} from './operations';
import { checkRecoveryRequest } from './recoveryRequestChecks';
import type { PointSource } from './pointSource';
import type { RecoveryRecords } from './recoveryRecords';
import type { RecoverySettingsStore } from './recoverySettingsStore';

export type { RecoveryRequest } from './operations';

export interface StartOptions {
  idempotencyKey?: string;
  launcher?: JobLauncher;
  startedBy?: string;
  parentJobId?: string;
}

export interface StartResult {
  job: JobDoc;
  /** False when an earlier request with the same Idempotency-Key had started it. */
  created: boolean;
}

const HOUR = 3600_000;

/**
 * Starts recovery operations (issue 12 §4). Every refusal (wrong state, unknown point, a
 * point of another machine, a point still being cut, a test failover already running) is
 * decided before anything is written, so it changes nothing. What must not happen twice is
 * claimed with an ETag: the item's lifecycle transition (failover, change point) or the
 * record's test/busy slot (test failover, cleanup, commit, cancel).
 */
export class RecoveryService {
  constructor(
    private readonly d: {
      items: ProtectedItems;
      jobs: Jobs;
      records: RecoveryRecords;
      settings: RecoverySettingsStore;
      points: PointSource;
      keys: IdempotencyKeys;
      clock: () => number;
    },
  ) {}

  async start(
    operation: RecoveryJobType,
    machineId: string,
    body: RecoveryRequest,
    opts: StartOptions = {},
  ): Promise<StartResult> {
    const { jobs, keys } = this.d;
    if (opts.idempotencyKey) {
      const earlier = await keys.lookup(machineId, operation, opts.idempotencyKey, body);
      if (earlier) {
        const job = await jobs.get(earlier);
        if (job.state === 'queued') await opts.launcher?.start(job, await this.input(job));
        return { job, created: false };
      }
    }
    const stuck = await this.neverStarted(operation, machineId);
    if (stuck) {
      // Accepted before, but its start failed (Durable unavailable): start it now.
      await opts.launcher?.start(stuck, await this.input(stuck));
      return { job: stuck, created: false };
    }
    await checkRecoveryRequest(this.d, operation, machineId, body);
    const job = await jobs.create(operation, {
      machineId,
      startedBy: opts.startedBy ?? 'admin',
      ...(opts.parentJobId ? { parentJobId: opts.parentJobId } : {}),
      ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
      steps: stepsOf[operation],
    });
    if (opts.idempotencyKey) {
      const winner = await keys.record(machineId, operation, opts.idempotencyKey, body, job.id);
      if (winner !== job.id) {
        await jobs.discard(job.id);
        return { job: await jobs.get(winner), created: false };
      }
    }
    const input = await this.inputFor(operation, machineId, body);
    try {
      await this.claim(operation, machineId, job.id, body);
    } catch (e) {
      await jobs.discard(job.id).catch(() => undefined);
      throw e;
    }
    await jobs.update(job.id, { result: { input: { ...input, settings: undefined } } });
    await opts.launcher?.start(job, input as unknown as Record<string, unknown>);
    return { job: await jobs.get(job.id), created: true };
  }

  /**
   * The job of this operation that claimed the machine but never started (still queued): the
   * claim would refuse every new request, so a repeated request starts that job instead.
   */
  private async neverStarted(op: RecoveryJobType, machineId: string): Promise<JobDoc | undefined> {
    const rec = await this.d.records.get(machineId);
    const id =
      op === RecoveryJob.testFailover
        ? rec.test?.jobId
        : op === RecoveryJob.testFailoverCleanup
          ? rec.test?.cleanupJobId
          : op === RecoveryJob.failover
            ? rec.failover?.jobId
            : op === RecoveryJob.reprotect || op === RecoveryJob.failback
              ? rec.failback?.failbackJobId
              : op === RecoveryJob.commitFailback
                ? rec.failback?.commitJobId
                : op === RecoveryJob.reenable
                  ? rec.failback?.reenableJobId
                  : rec.failover?.busyJobId;
    if (!id) return undefined;
    const job = await this.d.jobs.get(id).catch(() => undefined);
    return job?.type === op && job.state === 'queued' ? job : undefined;
  }

  /** The saga input of a job that was accepted but never started (a retried request restarts it). */
  private async input(job: JobDoc): Promise<Record<string, unknown>> {
    const saved = (job.result?.input ?? {}) as Partial<RecoveryJobInput>;
    const settings = (await this.d.settings.get(job.machineId!)).settings;
    return { ...saved, settings };
  }

  private async inputFor(
    operation: RecoveryJobType,
    machineId: string,
    body: RecoveryRequest,
  ): Promise<RecoveryJobInput> {
    const view = await this.d.settings.get(machineId);
    const facts = await this.d.settings.facts(machineId);
    const item = (await this.d.items.get(machineId)).doc;
    const disks = item.disks.length ? [...item.disks].sort() : facts.disks;
    const os = disks.includes(view.settings.osDisk) ? view.settings.osDisk : disks[0]!;
    return {
      machineId,
      operation,
      ...(body.point !== undefined ||
      operation === RecoveryJob.testFailover ||
      operation === RecoveryJob.failover
        ? { choice: body.point ?? 'latest' }
        : {}),
      ...(body.planned ? { planned: true } : {}),
      settings: { ...view.settings, osDisk: os },
      disks: [os, ...disks.filter((d) => d !== os)].map((diskId) => ({
        diskId,
        os: diskId === os,
      })),
      sourceIps: facts.ipv4 ?? [],
    };
  }

  /** Claims what must not happen twice (ETag-guarded), recording the job on the machine. */
  private async claim(
    op: RecoveryJobType,
    machineId: string,
    jobId: string,
    body: RecoveryRequest,
  ) {
    const { items, records, clock } = this.d;
    const now = new Date(clock()).toISOString();
    switch (op) {
      case RecoveryJob.testFailover: {
        const ttl = (await this.d.settings.get(machineId)).settings.testFailoverTtlHours;
        await records.mutate(machineId, (r) => {
          if (r.test) throw conflict('A test failover is already there.', { jobId: r.test.jobId });
          r.test = {
            jobId,
            startedAt: now,
            expiresAt: new Date(clock() + ttl * HOUR).toISOString(),
            state: 'starting',
          };
          return r;
        });
        return;
      }
      case RecoveryJob.testFailoverCleanup:
        await records.mutate(machineId, (r) => {
          if (!r.test || r.test.state === 'cleaning' || r.test.state === 'starting')
            throw conflict('The test failover cannot be cleaned up now.', { test: r.test ?? null });
          r.test = { ...r.test, state: 'cleaning', cleanupJobId: jobId };
          return r;
        });
        return;
      case RecoveryJob.failover:
        await items.transition(machineId, 'failing-over', {
          from: ['protected'],
          jobId,
          reason: 'failover',
        });
        try {
          await records.mutate(machineId, (r) => {
            r.failover = { jobId, planned: body.planned === true, startedAt: now };
            return r;
          });
        } catch (e) {
          await items.transition(machineId, 'protected', {
            from: ['failing-over'],
            jobId,
            reason: 'failover refused',
          });
          throw e;
        }
        return;
      case RecoveryJob.reprotect:
      case RecoveryJob.failback: {
        const [to, from] =
          op === RecoveryJob.reprotect
            ? (['reprotecting', 'committed'] as const)
            : (['failing-back', 'reprotected'] as const);
        await items.transition(machineId, to, { from: [from], jobId, reason: op });
        await records.mutate(machineId, (r) => {
          if (!r.failback) return undefined;
          r.failback = { ...r.failback, failbackJobId: jobId };
          delete r.failback.cancelRequestedAt;
          return r;
        });
        return;
      }
      case RecoveryJob.commitFailback:
        await records.mutate(machineId, (r) => {
          if (!r.failback || r.failback.committedAt || r.failback.commitJobId)
            throw conflict(`The failback of '${machineId}' cannot be committed now.`);
          r.failback = { ...r.failback, commitJobId: jobId };
          return r;
        });
        return;
      case RecoveryJob.reenable:
        await items.transition(machineId, 'enabling', {
          from: ['failed-back'],
          jobId,
          reason: 're-enable after failback',
        });
        await records.mutate(machineId, (r) => {
          if (!r.failback) return undefined;
          r.failback = { ...r.failback, reenableJobId: jobId };
          return r;
        });
        return;
      default: {
        const kind =
          op === RecoveryJob.changePoint
            ? 'change-point'
            : op === RecoveryJob.commit
              ? 'commit'
              : 'cancel';
        await records.mutate(machineId, (r) => {
          if (!r.failover) throw conflict(`Machine '${machineId}' has no failover.`);
          if (r.failover.busyJobId)
            throw conflict(`Job '${r.failover.busyJobId}' is already acting on the failover.`);
          r.failover = { ...r.failover, busyJobId: jobId, busyKind: kind };
          return r;
        });
        if (op === RecoveryJob.changePoint) {
          try {
            await items.transition(machineId, 'failing-over', {
              from: ['failed-over'],
              jobId,
              reason: 'change recovery point',
            });
          } catch (e) {
            await records.mutate(machineId, (r) => {
              if (r.failover?.busyJobId !== jobId) return undefined;
              r.failover = { ...r.failover, busyJobId: undefined, busyKind: undefined };
              return r;
            });
            throw e;
          }
        }
      }
    }
  }
}
