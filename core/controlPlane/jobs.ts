import type { DocumentStore, Page } from '../documents/ports';
import { HavenError, notFound } from '../errors';
import { newId } from './credentials';
import { collectionsDefs, type JobDoc } from './model';

export type JobPatch = Partial<Pick<JobDoc, 'state' | 'progress' | 'error' | 'result'>>;

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

  async create(type: string, target: { machineId?: string } = {}): Promise<JobDoc> {
    const now = new Date(this.clock()).toISOString();
    const id = newId('job');
    const doc: JobDoc = {
      id,
      type,
      state: 'queued',
      instanceId: id,
      ...(target.machineId ? { machineId: target.machineId } : {}),
      progress: { percent: 0 },
      createdAt: now,
      updatedAt: now,
    };
    return (await this.jobs.create(doc)).doc;
  }

  async get(id: string): Promise<JobDoc> {
    const found = await this.jobs.get(id, id);
    if (!found) throw notFound('Job', id);
    return found.doc;
  }

  /** Applies a patch with optimistic concurrency (retries on a concurrent writer). */
  async update(id: string, patch: JobPatch): Promise<JobDoc> {
    for (let attempt = 0; ; attempt++) {
      const found = await this.jobs.get(id, id);
      if (!found) throw notFound('Job', id);
      const next: JobDoc = {
        ...found.doc,
        ...patch,
        updatedAt: new Date(this.clock()).toISOString(),
      };
      try {
        return (await this.jobs.replace(next, { ifMatch: found.etag })).doc;
      } catch (e) {
        if (!(e instanceof HavenError && e.kind === 'precondition') || attempt >= 5) throw e;
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
