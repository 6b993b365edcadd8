import type { ConsistencyGroups } from '../controlPlane/consistencyGroups';
import type { Jobs } from '../controlPlane/jobs';
import type { DocumentStore } from '../documents/ports';
import { IdempotencyKeys } from '../recovery/idempotency';
import type { ReplicationDeps } from '../replication/ports';
import { Drills } from './drills';
import { JobControl } from './jobControl';
import { planPointResolver } from './planPointSource';
import { PlanService } from './planService';
import { Plans } from './plans';

/** Recovery plans' services (built by app/root.ts). */
export interface PlansPart {
  plans: Plans;
  service: PlanService;
  drills: Drills;
  jobControl: JobControl;
}

export function createPlans(d: {
  documents: DocumentStore;
  jobs: Jobs;
  groups: ConsistencyGroups;
  replication: ReplicationDeps;
  clock: () => number;
}): PlansPart {
  const plans = new Plans(d.documents, d.clock);
  const service = new PlanService({
    documents: d.documents,
    plans,
    jobs: d.jobs,
    keys: new IdempotencyKeys(d.documents, d.clock),
    resolvePoints: planPointResolver(d.documents, d.groups, d.replication),
    clock: d.clock,
  });
  return {
    plans,
    service,
    drills: new Drills(d.documents, d.clock),
    jobControl: new JobControl(d.jobs, d.clock),
  };
}
