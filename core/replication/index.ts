/** The replication data path (ingest → staging → hydrate → recovery points), over its ports. */
import { DrainCoalescer } from './drainCoalescer';
import type { HydrateOutcome } from './hydrate';
import {
  DEFAULT_REPLICATION_OPTIONS,
  type ReplicationDeps,
  type ReplicationOptions,
} from './ports';

export interface Replication {
  deps: ReplicationDeps;
  options: ReplicationOptions;
  /** This process's drains, one per disk, that hydrate triggers join. */
  drains: DrainCoalescer<HydrateOutcome>;
}

export function createReplication(
  deps: ReplicationDeps,
  options: Partial<ReplicationOptions> = {},
): Replication {
  return {
    deps,
    options: { ...DEFAULT_REPLICATION_OPTIONS, ...options },
    drains: new DrainCoalescer(),
  };
}

export { ingestEvent, type IngestEvent, type IngestOutcome } from './ingest';
export { ingestEvents } from './ingestEvents';
export { hydrateStaged, drainDisk, type HydrateOutcome } from './hydrate';
export { DrainCoalescer } from './drainCoalescer';
export { materializePoint, createDurablePoint, isMaterialized } from './pointDocs';
export { materializeUpTo, waitMaterialized, type Materialization } from './materialize';
export { recordDurability, type StoredBatch } from './durability';
export {
  listRecoveryPoints,
  getRecoveryPoint,
  getGroupRecoveryPoint,
  recoveryPointReadUrl,
  applyRetention,
} from './recoveryPoints';
export type { RecoveryPoint } from './recoveryPointApi';
export { pointsToKeep } from './retentionPolicy';
export { replicationHealth, type ReplicationHealth } from './health';
export { replicationCollections, replicationCollectionsOf } from './state';
export { ControlPlaneDirectory } from './controlPlaneDirectory';
export type * from './ports';
