import type { DocumentStore, Page } from '../documents/ports';
import { HavenError, notFound } from '../errors';
import { newId } from './credentials';
import { collectionsDefs, type JobDoc, type JobStep } from './model';

export type JobPatch = Partial<
  Pick<JobDoc, 'state' | 'progress' | 'error' | 'result' | 'steps' | 'allowedActions'>
>;

/** Optional facts of a new job. */
export interface JobOptions {
  machineId?: string;
  startedBy?: string;
  parentJobId?: string;
  idempotencyKey?: string;
  steps?: string[];
  allowedActions?: string[];
}

/**
 * Jobs: one per long operation; the job id is also the Durable instance id, so starting the
 * orchestration twice for the same job is harmless.
 */
export class Jobs {
  private readonly jobs;
  constructor(
    documents: DocumentStore,
    private readonly clock: () => number,
  ) {
    this.jobs = documents.collection<JobDoc>(collectionsDefs.jobs);
  }

  async create(type: string, target: JobOptions = {}, id = newId('job')): Promise<JobDoc> {
    const now = new Date(this.clock()).toISOString();
    const doc: JobDoc = {
      id,
      type,
      state: 'queued',
      instanceId: id,
      ...(target.machineId ? { machineId: target.machineId } : {}),
      progress: { percent: 0 },
      createdAt: now,
      updatedAt: now,
      ...(target.startedBy ? { startedBy: target.startedBy } : {}),
      ...(target.parentJobId ? { parentJobId: target.parentJobId } : {}),
      ...(target.idempotencyKey ? { idempotencyKey: target.idempotencyKey } : {}),
      ...(target.steps
        ? { steps: target.steps.map((name) => ({ name, state: 'pending' as const })) }
        : {}),
      ...(target.allowedActions ? { allowedActions: target.allowedActions } : {}),
    };
    return (await this.jobs.create(doc)).doc;
  }

  /** Starts, ends or annotates one step (added at the end when the job does not list it yet). */
  async step(id: string, step: JobStep): Promise<JobDoc> {
    return this.update(id, (cur) => {
      const steps = [...(cur.steps ?? [])];
      const i = steps.findIndex((s) => s.name === step.name);
      if (i >= 0) steps[i] = { ...steps[i]!, ...step };
      else steps.push(step);
      return { steps };
    });
  }

  async get(id: string): Promise<JobDoc> {
    const found = await this.jobs.get(id, id);
    if (!found) throw notFound('Job', id);
    return found.doc;
  }

  /** Applies a patch with optimistic concurrency (retries on a concurrent writer). */
  async update(id: string, patch: JobPatch | ((cur: JobDoc) => JobPatch)): Promise<JobDoc> {
    for (let attempt = 0; ; attempt++) {
      const found = await this.jobs.get(id, id);
      if (!found) throw notFound('Job', id);
      const next: JobDoc = {
        ...found.doc,
        ...(typeof patch === 'function' ? patch(found.doc) : patch),
        updatedAt: new Date(this.clock()).toISOString(),
      };
      try {
        return (await this.jobs.replace(next, { ifMatch: found.etag })).doc;
      } catch (e) {
        if (!(e instanceof HavenError && e.kind === 'precondition') || attempt >= 10) throw e;
      }
    }
  }

  /** Removes a job nobody references (a lost race in protect). */
  async discard(id: string): Promise<void> {
    await this.jobs.delete(id, id);
  }

  async list(page: { limit?: number; continuation?: string } = {}): Promise<Page<JobDoc>> {
    return this.jobs.query({ ...page, orderBy: [{ field: 'createdAt', direction: 'desc' }] });
  }
}
