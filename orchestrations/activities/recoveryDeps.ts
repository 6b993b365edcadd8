import { getRoot, type Root } from '../../app/root';
import type { Jobs } from '../../core/controlPlane/jobs';
import type { ProtectedItems } from '../../core/controlPlane/protectedItems';
import { HavenError } from '../../core/errors';
import type { PointSource } from '../../core/recovery/pointSource';
import type { RecoveryTarget } from '../../core/recovery/ports';
import type { RecoveryRecords } from '../../core/recovery/recoveryRecords';
import type { ReplicationDeps, ReplicationOptions } from '../../core/replication/ports';

/** Facts of the target the sagas need besides the port. */
export interface TargetFacts {
  /** `/subscriptions/{id}`: resource ids are built under it. */
  subscriptionPath: string;
  /** ARM id of the storage account holding replicas and base blobs (disk Import needs it). */
  storageAccountId: string;
}

/** What the recovery activities need. */
export interface RecoveryDeps {
  /** Undefined when no target is configured: activities that need it fail with a clear error. */
  target: RecoveryTarget | undefined;
  storageAccountId: string | undefined;
  replication: ReplicationDeps;
  replicationOptions: ReplicationOptions;
  jobs: Jobs;
  items: ProtectedItems;
  records: RecoveryRecords;
  points: PointSource;
  clock: () => number;
  timing: { pollMs: number; latestWaitMs: number };
  /** The health probe's HTTP client. */
  fetch: typeof fetch;
}

let override: (() => Promise<RecoveryDeps>) | undefined;

/** Tests and benchmarks install their own dependencies; the app uses the composition root. */
export function useRecoveryDeps(factory: (() => Promise<RecoveryDeps>) | undefined): void {
  override = factory;
}

/** The activities' dependencies from a root; `over` replaces parts (tests: a target double, a probe). */
export function recoveryDepsOf(root: Root, over: Partial<RecoveryDeps> = {}): RecoveryDeps {
  return {
    target: root.recoveryTarget,
    storageAccountId: root.recoveryConfig?.storageAccountId,
    replication: root.replication.deps,
    replicationOptions: root.replication.options,
    jobs: root.controlPlane.jobs,
    items: root.controlPlane.protectedItems,
    records: root.recovery.records,
    points: root.recovery.points,
    clock: root.clock,
    timing: {
      pollMs: root.config.recoveryPollMs,
      latestWaitMs: root.config.recoveryLatestWaitSeconds * 1000,
    },
    fetch,
    ...over,
  };
}

export async function recoveryDeps(): Promise<RecoveryDeps> {
  if (override) return override();
  return recoveryDepsOf(await getRoot());
}

/** The target, or a clear error when the deployment has none configured. */
export function targetOf(d: RecoveryDeps): RecoveryTarget {
  if (!d.target)
    throw new HavenError(
      'internal',
      'No recovery target is configured (HAVEN_ARM_* settings): cannot create resources in Azure.',
    );
  return d.target;
}
