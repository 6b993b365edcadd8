import type { ConsistencyGroups } from '../controlPlane/consistencyGroups';
import type { Jobs } from '../controlPlane/jobs';
import type { Machines } from '../controlPlane/machines';
import type { ProtectedItems } from '../controlPlane/protectedItems';
import type { DocumentStore } from '../documents/ports';
import type { ReplicationDeps } from '../replication/ports';
import { IdempotencyKeys } from './idempotency';
import { replicationPointSource, type PointSource } from './pointSource';
import { RecoveryRecords } from './recoveryRecords';
import { RecoveryService } from './recoveryService';
import { RecoverySettingsStore, type RecoveryDefaults } from './recoverySettingsStore';

/** The recovery half's services (built by app/root.ts). */
export interface Recovery {
  settings: RecoverySettingsStore;
  records: RecoveryRecords;
  points: PointSource;
  service: RecoveryService;
}

export function createRecovery(d: {
  documents: DocumentStore;
  machines: Machines;
  items: ProtectedItems;
  jobs: Jobs;
  groups: ConsistencyGroups;
  replication: ReplicationDeps;
  defaults: RecoveryDefaults;
  clock: () => number;
}): Recovery {
  const settings = new RecoverySettingsStore(d.documents, d.machines, d.defaults, d.clock);
  const records = new RecoveryRecords(d.documents, d.clock);
  const points = replicationPointSource(d.replication, d.groups);
  const service = new RecoveryService({
    items: d.items,
    jobs: d.jobs,
    records,
    settings,
    points,
    keys: new IdempotencyKeys(d.documents, d.clock),
    clock: d.clock,
  });
  return { settings, records, points, service };
}
