import type { Jobs } from '../controlPlane/jobs';
import type { DocumentStore } from '../documents/ports';
import { AlertIngest } from './alertIngest';
import { Decisions } from './decisions';
import { SiteSignals } from './siteSignals';
import { AlertTriggers } from './triggers';

/** Alert-driven operations' services (built by app/root.ts). */
export interface AlertsPart {
  triggers: AlertTriggers;
  decisions: Decisions;
  ingest: AlertIngest;
  sites: SiteSignals;
}

export function createAlerts(d: {
  documents: DocumentStore;
  jobs: Jobs;
  clock: () => number;
  siteDownSeconds: number;
}): AlertsPart {
  const triggers = new AlertTriggers(d.documents, d.clock);
  const decisions = new Decisions(d.documents, d.clock);
  const ingest = new AlertIngest(d.documents, {
    triggers,
    decisions,
    jobs: d.jobs,
    clock: d.clock,
  });
  return {
    triggers,
    decisions,
    ingest,
    sites: new SiteSignals(d.documents, d.clock, d.siteDownSeconds),
  };
}
