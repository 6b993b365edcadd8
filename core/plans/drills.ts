import type { Collection, DocumentStore, Page } from '../documents/ports';
import { planCollectionsDefs, type DrillReportDoc } from './model';

/** Drill reports, per plan, newest first. */
export class Drills {
  private readonly reports: Collection<DrillReportDoc>;
  constructor(
    documents: DocumentStore,
    private readonly clock: () => number,
  ) {
    this.reports = documents.collection(planCollectionsDefs.drillReports);
  }

  /** Creates or replaces a report (the drill saga writes it as it goes; idempotent). */
  async save(report: DrillReportDoc): Promise<DrillReportDoc> {
    return (await this.reports.upsert(report)).doc;
  }

  async get(planName: string, id: string): Promise<DrillReportDoc | undefined> {
    return (await this.reports.get(planName, id))?.doc;
  }

  async list(
    planName: string,
    page: { limit?: number; continuation?: string } = {},
  ): Promise<Page<DrillReportDoc>> {
    return this.reports.query({
      partitionKey: planName,
      orderBy: [{ field: 'startedAt', direction: 'desc' }],
      ...page,
    });
  }

  /** Now, on the part's clock (reports are stamped by the activity that writes them). */
  now(): string {
    return new Date(this.clock()).toISOString();
  }
}
