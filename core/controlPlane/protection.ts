import { HavenError, conflict, notFound, validation } from '../errors';
import type { Jobs } from './jobs';
import type { Machines } from './machines';
import type { JobDoc, ProtectedItemDoc } from './model';
import type { Policies } from './policies';
import { isActive } from './protectedItemState';
import type { ProtectedItems } from './protectedItems';
import type { ProtectBody } from './schemas';

export const ENABLE_PROTECTION_JOB = 'enable-protection';

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
