import type { Collection, DocumentStore, Page, Versioned } from '../documents/ports';
import { notFound, validation } from '../errors';
import { planCollectionsDefs, type PlanDoc } from '../plans/model';
import { alertCollectionsDefs, type AlertTriggerDoc } from './model';
import type { CreateTriggerBody, TriggerBody } from './triggerSchema';

/** Alert triggers, addressed by name, with optimistic concurrency (If-Match). */
export class AlertTriggers {
  private readonly triggers: Collection<AlertTriggerDoc>;
  private readonly plans: Collection<PlanDoc>;
  constructor(
    documents: DocumentStore,
    private readonly clock: () => number,
  ) {
    this.triggers = documents.collection(alertCollectionsDefs.alertTriggers);
    this.plans = documents.collection(planCollectionsDefs.recoveryPlans);
  }

  private now = () => new Date(this.clock()).toISOString();

  private async checkPlan(name: string): Promise<void> {
    if (!(await this.plans.get(name, name)))
      throw validation(`Unknown recovery plan '${name}'.`, { plan: name });
  }

  async create(body: CreateTriggerBody): Promise<Versioned<AlertTriggerDoc>> {
    const { name, ...fields } = body;
    await this.checkPlan(fields.plan);
    const now = this.now();
    return this.triggers.create({ ...fields, id: name, name, createdAt: now, updatedAt: now });
  }

  async get(name: string): Promise<Versioned<AlertTriggerDoc>> {
    const found = await this.triggers.get(name, name);
    if (!found) throw notFound('Alert trigger', name);
    return found;
  }

  async put(
    name: string,
    body: TriggerBody,
    ifMatch?: string,
  ): Promise<Versioned<AlertTriggerDoc>> {
    const existing = await this.triggers.get(name, name);
    if (ifMatch !== undefined && !existing) throw notFound('Alert trigger', name);
    await this.checkPlan(body.plan);
    const now = this.now();
    const doc: AlertTriggerDoc = {
      ...body,
      id: name,
      name,
      createdAt: existing?.doc.createdAt ?? now,
      updatedAt: now,
    };
    if (ifMatch !== undefined) return this.triggers.replace(doc, { ifMatch });
    return this.triggers.upsert(doc);
  }

  async delete(name: string, ifMatch?: string): Promise<AlertTriggerDoc> {
    const cur = await this.get(name);
    await this.triggers.delete(name, name, { ifMatch: ifMatch ?? cur.etag });
    return cur.doc;
  }

  async list(page: { limit?: number; continuation?: string } = {}): Promise<Page<AlertTriggerDoc>> {
    return this.triggers.query({ ...page });
  }

  /** Every trigger (matching reads them all: a deployment has tens, not thousands). */
  async all(): Promise<AlertTriggerDoc[]> {
    const out: AlertTriggerDoc[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.triggers.query({
        limit: 1000,
        ...(continuation ? { continuation } : {}),
      });
      out.push(...page.items.map((x) => x.doc));
      continuation = page.continuation;
    } while (continuation);
    return out;
  }
}
