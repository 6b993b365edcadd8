import type { Collection, DocumentStore, Page, Versioned } from '../documents/ports';
import { collectionsDefs, type MachineDoc } from '../controlPlane/model';
import { conflict, notFound, precondition, validation } from '../errors';
import { checkDrillSchedule } from './drillSchedule';
import { planCollectionsDefs, type PlanDoc, type PlanRunDoc } from './model';
import {
  planBody,
  type AddActionBody,
  type CreatePlanBody,
  type PlanBody,
  type PlanGroup,
} from './planSchema';
import { planMachines } from './planRun';
import { mergeSecrets } from './planSecrets';

/**
 * Recovery plans, addressed by name, with optimistic concurrency (If-Match). Every machine a
 * plan names must be enrolled; a machine may be in several plans. A plan with an operation
 * running cannot be deleted.
 */
export class Plans {
  private readonly plans: Collection<PlanDoc>;
  private readonly runs: Collection<PlanRunDoc>;
  private readonly machines: Collection<MachineDoc>;
  constructor(
    documents: DocumentStore,
    private readonly clock: () => number,
  ) {
    this.plans = documents.collection(planCollectionsDefs.recoveryPlans);
    this.runs = documents.collection(planCollectionsDefs.planRuns);
    this.machines = documents.collection(collectionsDefs.machines);
  }

  private now = () => new Date(this.clock()).toISOString();

  /** Unknown machines and a bad drill schedule are refused before anything is written. */
  private async check(body: PlanBody): Promise<void> {
    const ids = planMachines(body.groups);
    const missing: string[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      const chunk = ids.slice(i, i + 100);
      const found = await this.machines.query({
        where: [{ field: 'id', op: 'in', value: chunk }],
        limit: chunk.length,
      });
      const have = new Set(found.items.map((x) => x.doc.id));
      missing.push(...chunk.filter((m) => !have.has(m)));
    }
    if (missing.length)
      throw validation(`Unknown machine(s): ${missing.slice(0, 10).join(', ')}.`, { missing });
    if (body.drill) checkDrillSchedule(body.drill.schedule, this.clock());
  }

  private doc(name: string, body: PlanBody, createdAt: string): PlanDoc {
    return {
      id: name,
      name,
      ...(body.description !== undefined ? { description: body.description } : {}),
      groups: [...body.groups].sort((a, b) => a.id - b.id),
      pointChoice: body.pointChoice,
      maxParallel: body.maxParallel,
      ...(body.drill ? { drill: body.drill } : {}),
      createdAt,
      updatedAt: this.now(),
    };
  }

  async create(body: CreatePlanBody): Promise<Versioned<PlanDoc>> {
    const { name, ...rest } = body;
    await this.check(rest);
    return this.plans.create(this.doc(name, rest, this.now()));
  }

  async get(name: string): Promise<Versioned<PlanDoc>> {
    const found = await this.plans.get(name, name);
    if (!found) throw notFound('Recovery plan', name);
    return found;
  }

  async find(name: string): Promise<PlanDoc | undefined> {
    return (await this.plans.get(name, name))?.doc;
  }

  /**
   * Replaces a plan (creates it without If-Match). Webhook secrets sent back redacted keep
   * their stored values.
   */
  async put(name: string, body: PlanBody, ifMatch?: string): Promise<Versioned<PlanDoc>> {
    const existing = await this.plans.get(name, name);
    if (ifMatch !== undefined && !existing) throw notFound('Recovery plan', name);
    const groups = existing ? mergeSecrets(body.groups, existing.doc.groups) : body.groups;
    const merged = { ...body, groups };
    await this.check(merged);
    const doc = this.doc(name, merged, existing?.doc.createdAt ?? this.now());
    if (ifMatch !== undefined) return this.plans.replace(doc, { ifMatch });
    return this.plans.upsert(doc);
  }

  /** Adds one action to a group's pre or post list (conditional on If-Match when given). */
  async addAction(
    name: string,
    body: AddActionBody,
    ifMatch?: string,
  ): Promise<Versioned<PlanDoc>> {
    const cur = await this.get(name);
    if (ifMatch !== undefined && ifMatch !== cur.etag) throw precondition();
    const group = cur.doc.groups.find((g) => g.id === body.group);
    if (!group) throw notFound('Plan group', `${name}/${body.group}`);
    const groups: PlanGroup[] = cur.doc.groups.map((g) =>
      g.id === body.group ? { ...g, [body.phase]: [...g[body.phase], body.action] } : g,
    );
    const { id: _i, name: _n, createdAt: _c, updatedAt: _u, ...fields } = cur.doc;
    const parsed = planBody.safeParse({ ...fields, groups });
    if (!parsed.success)
      throw validation(parsed.error.issues.map((i) => i.message).join('; '), {
        errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      });
    return this.plans.replace(
      { ...cur.doc, groups: parsed.data.groups, updatedAt: this.now() },
      { ifMatch: cur.etag },
    );
  }

  async delete(name: string, ifMatch?: string): Promise<PlanDoc> {
    const cur = await this.get(name);
    const run = await this.runs.get(name, name);
    if (run?.doc.active)
      throw conflict(`Job '${run.doc.active.jobId}' is running on plan '${name}'.`, {
        jobId: run.doc.active.jobId,
      });
    await this.plans.delete(name, name, { ifMatch: ifMatch ?? cur.etag });
    await this.runs.delete(name, name);
    return cur.doc;
  }

  async list(page: { limit?: number; continuation?: string } = {}): Promise<Page<PlanDoc>> {
    return this.plans.query({ ...page });
  }
}
