import type { Collection, DocumentStore } from '../documents/ports';
import { conflict, isHavenError } from '../errors';
import { planCollectionsDefs, type PlanRunDoc } from './model';
import type { PlanOperationType } from './planOperations';

/**
 * Each plan's run document: the one operation running on it (claimed with an ETag, released
 * by its saga when it ends), the last automated one (the triggers' cooldown) and the next
 * drill. Every change is a conditional write, retried when another writer came first.
 */
export class PlanRuns {
  private readonly runs: Collection<PlanRunDoc>;

  constructor(
    documents: DocumentStore,
    private readonly clock: () => number,
  ) {
    this.runs = documents.collection(planCollectionsDefs.planRuns);
  }

  private now = () => new Date(this.clock()).toISOString();

  /** The plan's run facts (absent: never ran). */
  async get(planName: string): Promise<PlanRunDoc | undefined> {
    return (await this.runs.get(planName, planName))?.doc;
  }

  /** Makes `jobId` the plan's running operation; a conflict when another job holds it. */
  async claim(
    planName: string,
    jobId: string,
    op: PlanOperationType | 'drill',
    automated: boolean,
  ): Promise<void> {
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
  async all(): Promise<PlanRunDoc[]> {
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
