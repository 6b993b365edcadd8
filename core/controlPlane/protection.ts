import type { Versioned } from '../documents/ports';
import { HavenError, conflict, notFound, transient, validation } from '../errors';
import type { Jobs } from './jobs';
import type { Machines } from './machines';
import type { JobDoc, JobState, ProtectedItemDoc } from './model';
import type { Policies } from './policies';
import { isActive, type ProtectedItemState } from './protectedItemState';
import type { ProtectedItems } from './protectedItems';
import type { ProtectBody } from './schemas';

export const ENABLE_PROTECTION_JOB = 'enable-protection';
export const DISABLE_PROTECTION_JOB = 'disable-protection';

export interface ProtectResult {
  item: ProtectedItemDoc;
  etag: string;
  job: JobDoc;
  /** False when an identical protect request had already been accepted. */
  created: boolean;
}

export interface AgentProtectionView {
  state: string;
  disks: string[];
  policy: string;
  crashIntervalSeconds: number;
  appIntervalSeconds: number;
}

/** Starts a job's orchestration (Durable); instance id = job id. Optional: jobs stay queued without it. */
export interface JobLauncher {
  start(job: JobDoc, input: Record<string, unknown>): Promise<void>;
}

/** Asks a job's orchestration to cancel itself (its compensations run). */
export interface JobCanceller {
  /** False when no instance of the job is running (never started, or already over). */
  cancel(job: JobDoc, reason: Record<string, unknown>): Promise<boolean>;
}

export interface DisableResult {
  item: ProtectedItemDoc;
  etag: string;
  job: JobDoc;
  /** True once the item is disabled; false while a cancelled enable saga compensates. */
  done: boolean;
}

/** States in which the enable-protection saga may still be running for the item's job. */
const enablingStates: ReadonlySet<ProtectedItemState> = new Set([
  'enabling',
  'initial-sync',
  'initial-sync-stalled',
]);
const unfinished = (j: JobDoc) => j.state === 'queued' || j.state === 'running';

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

/** Enable protection of a machine (all or some disks) under a policy. */
export class Protection {
  constructor(
    private readonly machines: Machines,
    private readonly policies: Policies,
    private readonly items: ProtectedItems,
    private readonly jobs: Jobs,
    private readonly clock: () => number,
    private readonly launcher?: JobLauncher,
  ) {}

  /**
   * `launcher` (per call, e.g. from the invocation's durable client) overrides the one given at
   * construction. A repeated request whose job is still queued (its start failed) starts it again.
   */
  async protect(
    machineId: string,
    body: ProtectBody,
    launcher: JobLauncher | undefined = this.launcher,
  ): Promise<ProtectResult> {
    const machine = (await this.machines.getDoc(machineId)).doc;
    const known = (await this.machines.listDisks(machineId)).map((d) => d.id);
    const disks = [...new Set(body.disks ?? known)].sort();
    const unknown = disks.filter((d) => !known.includes(d));
    if (unknown.length) throw notFound('Disk', `${machineId}/${unknown.join(',')}`);
    if (!disks.length) throw validation('The machine has no disks to protect; add disks first.');
    const policy = (await this.policies.resolve(body.policy)).name;

    const existing = await this.items.find(machineId);
    if (existing && isActive(existing.doc.state)) {
      return this.same(existing.doc, existing.etag, disks, policy, launcher);
    }

    const job = await this.jobs.create(ENABLE_PROTECTION_JOB, { machineId });
    const now = new Date(this.clock()).toISOString();
    const doc: ProtectedItemDoc = {
      id: machineId,
      machineId,
      siteId: machine.siteId,
      state: 'enabling',
      disks,
      policy,
      jobId: job.id,
      createdAt: existing?.doc.createdAt ?? now,
      updatedAt: now,
      history: [
        ...(existing?.doc.history ?? []),
        { from: existing?.doc.state ?? null, to: 'enabling' as const, at: now, jobId: job.id },
      ].slice(-20),
    };
    let written;
    try {
      written = existing
        ? await this.items.replace(doc, existing.etag)
        : await this.items.create(doc);
    } catch (e) {
      await this.jobs.discard(job.id).catch(() => undefined);
      const raced = e instanceof HavenError && (e.kind === 'conflict' || e.kind === 'precondition');
      if (!raced) throw e;
      // Someone else protected it concurrently: same request → same answer, else 409.
      const winner = await this.items.get(machineId);
      return this.same(winner.doc, winner.etag, disks, policy, launcher);
    }
    await launcher?.start(job, { machineId, disks, policy });
    return { item: written.doc, etag: written.etag, job, created: true };
  }

  /**
   * What the agent needs to know about its protection (heartbeat reply): which disks to
   * replicate and how often to cut crash-/app-consistent bookmarks.
   */
  async agentView(machineId: string): Promise<AgentProtectionView | null> {
    const item = await this.items.find(machineId);
    if (!item || item.doc.state === 'disabled') return null;
    const policy = await this.policies.get(item.doc.policy).catch(() => undefined);
    return {
      state: item.doc.state,
      disks: item.doc.disks,
      policy: item.doc.policy,
      crashIntervalSeconds: policy?.doc.crashIntervalSeconds ?? 5,
      appIntervalSeconds: policy?.doc.appIntervalSeconds ?? 0,
    };
  }

  /**
   * Disables protection. While the enable saga runs, it is cancelled (its compensations delete
   * the replicas and disable the item; follow the job). Otherwise the item goes `disabling` →
   * `disabled` under a job of its own (or the never-started enable job, which ends cancelled).
   * Disabling a disabled/disabling item answers its current state and job; 409 where the
   * lifecycle forbids it (e.g. during a failover).
   */
  async disable(machineId: string, canceller?: JobCanceller): Promise<DisableResult> {
    await this.machines.getDoc(machineId);
    for (let attempt = 0; ; attempt++) {
      const cur = await this.items.find(machineId);
      if (!cur) throw conflict(`Machine '${machineId}' is not protected.`, { state: null });
      const job = await this.jobs.get(cur.doc.jobId);
      try {
        return await this.disableFrom(cur, job, canceller);
      } catch (e) {
        // Someone moved the item meanwhile: decide again from its new state.
        if (!(e instanceof HavenError && e.kind === 'precondition') || attempt >= 5) throw e;
      }
    }
  }

  private async disableFrom(
    cur: Versioned<ProtectedItemDoc>,
    job: JobDoc,
    canceller: JobCanceller | undefined,
  ): Promise<DisableResult> {
    const { state } = cur.doc;
    if (state === 'disabling' && job.type === DISABLE_PROTECTION_JOB && unfinished(job)) {
      return this.finishDisable(cur.doc.machineId, job, 'succeeded'); // an interrupted disable
    }
    if (state === 'disabled' || state === 'disabling') {
      return { item: cur.doc, etag: cur.etag, job, done: state === 'disabled' };
    }
    if (enablingStates.has(state) && job.type === ENABLE_PROTECTION_JOB && unfinished(job)) {
      if (!canceller && job.state === 'running')
        throw transient('Durable Functions is unavailable: cannot cancel the running job.');
      if (await canceller?.cancel(job, { by: 'disable-protection', machineId: cur.doc.machineId }))
        return { item: cur.doc, etag: cur.etag, job, done: false };
      // The saga never ran, so nothing compensates: the enable job itself ends cancelled.
      await this.toDisabling(cur, job.id);
      return this.finishDisable(cur.doc.machineId, job, 'cancelled');
    }
    const own = await this.jobs.create(DISABLE_PROTECTION_JOB, { machineId: cur.doc.machineId });
    try {
      await this.toDisabling(cur, own.id);
    } catch (e) {
      await this.jobs.discard(own.id).catch(() => undefined);
      throw e;
    }
    return this.finishDisable(cur.doc.machineId, own, 'succeeded');
  }

  /** Conditional on the ETag read, so a concurrent change makes the caller decide again. */
  private async toDisabling(cur: Versioned<ProtectedItemDoc>, jobId: string): Promise<void> {
    await this.items.transition(cur.doc.machineId, 'disabling', {
      ifMatch: cur.etag,
      jobId,
      reason: 'disable-protection',
    });
  }

  private async finishDisable(
    machineId: string,
    job: JobDoc,
    final: JobState,
  ): Promise<DisableResult> {
    const item = await this.items
      .transition(machineId, 'disabled', { jobId: job.id, reason: 'disable-protection' })
      .catch(async (e: unknown) => {
        // A concurrent identical request finished it first.
        const now = await this.items.get(machineId);
        if (now.doc.state === 'disabled' && now.doc.jobId === job.id) return now;
        throw e;
      });
    const done = await this.jobs.update(job.id, {
      state: final,
      progress: { percent: 100, step: 'disabled' },
    });
    return { item: item.doc, etag: item.etag, job: done, done: true };
  }

  private async same(
    item: ProtectedItemDoc,
    etag: string,
    disks: string[],
    policy: string,
    launcher: JobLauncher | undefined,
  ): Promise<ProtectResult> {
    if (!sameSet(item.disks, disks) || item.policy !== policy) {
      throw conflict(`Machine '${item.machineId}' is already protected with other settings.`, {
        state: item.state,
        disks: item.disks,
        policy: item.policy,
      });
    }
    const job = await this.jobs.get(item.jobId);
    if (job.state === 'queued' && item.state === 'enabling') {
      await launcher?.start(job, {
        machineId: item.machineId,
        disks: item.disks,
        policy: item.policy,
      });
    }
    return { item, etag, job, created: false };
  }
}
