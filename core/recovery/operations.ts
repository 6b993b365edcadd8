import type { RecoverySettings } from './settings';

/**
 * The recovery operations (issue 12 §4): job types, the saga each runs (registered names in
 * `orchestrations/`, kept as strings so the control plane does not load saga code), and the
 * steps each job shows.
 */
export const RecoveryJob = {
  testFailover: 'test-failover',
  testFailoverCleanup: 'test-failover-cleanup',
  failover: 'failover',
  changePoint: 'change-recovery-point',
  commit: 'commit-failover',
  cancel: 'cancel-failover',
  reprotect: 'reprotect',
  failback: 'failback',
  commitFailback: 'commit-failback',
  reenable: 'reenable',
} as const;
export type RecoveryJobType = (typeof RecoveryJob)[keyof typeof RecoveryJob];

export const recoveryOrchestrationForJob: Record<RecoveryJobType, string> = {
  [RecoveryJob.testFailover]: 'testFailover',
  [RecoveryJob.testFailoverCleanup]: 'testFailoverCleanup',
  [RecoveryJob.failover]: 'failover',
  [RecoveryJob.changePoint]: 'changeRecoveryPoint',
  [RecoveryJob.commit]: 'commitFailover',
  [RecoveryJob.cancel]: 'cancelFailover',
  [RecoveryJob.reprotect]: 'reprotect',
  [RecoveryJob.failback]: 'failback',
  [RecoveryJob.commitFailback]: 'commitFailback',
  [RecoveryJob.reenable]: 'reenable',
};

/** Step names; the bench and the job result report their durations. */
export const Step = {
  point: 'point-wait',
  finalBookmark: 'final-bookmark',
  network: 'network',
  diskImport: 'disk-import',
  vmCreate: 'vm-create',
  boot: 'boot',
  probe: 'probe',
  record: 'record',
  deleteVm: 'delete-vm',
  deleteResources: 'delete-resources',
  deleteOldDisks: 'delete-old-disks',
  commit: 'commit',
  // The way back (docs/failback.md).
  reverseSession: 'reverse-session',
  firstDiff: 'first-diff',
  powerOff: 'power-off',
  finalDiff: 'final-diff',
  siteApply: 'site-apply',
  deleteSnapshots: 'delete-snapshots',
  deleteBatches: 'delete-reverse-batches',
  seed: 'seed-replicas',
  switchGeneration: 'switch-generation',
  firstPoint: 'first-point',
} as const;

const bring = [Step.point, Step.network, Step.diskImport, Step.vmCreate, Step.boot, Step.probe];
export const stepsOf: Record<RecoveryJobType, string[]> = {
  [RecoveryJob.testFailover]: [...bring, Step.record],
  // final-bookmark: planned failovers only (skipped otherwise).
  [RecoveryJob.failover]: [Step.finalBookmark, ...bring, Step.record],
  [RecoveryJob.testFailoverCleanup]: [Step.deleteVm, Step.deleteResources, Step.record],
  [RecoveryJob.cancel]: [Step.deleteVm, Step.deleteResources, Step.record],
  [RecoveryJob.changePoint]: [
    Step.point,
    Step.diskImport,
    Step.deleteVm,
    Step.vmCreate,
    Step.boot,
    Step.probe,
    Step.deleteOldDisks,
    Step.record,
  ],
  [RecoveryJob.commit]: [Step.commit],
  [RecoveryJob.reprotect]: [Step.reverseSession, Step.firstDiff, Step.record],
  [RecoveryJob.failback]: [Step.powerOff, Step.finalDiff, Step.siteApply, Step.record],
  [RecoveryJob.commitFailback]: [
    Step.deleteVm,
    Step.deleteResources,
    Step.deleteSnapshots,
    Step.deleteBatches,
    Step.record,
  ],
  [RecoveryJob.reenable]: [
    Step.seed,
    Step.switchGeneration,
    Step.firstPoint,
    Step.deleteSnapshots,
    Step.record,
  ],
};

/** The body of a recovery POST (what each operation reads of it). */
export interface RecoveryRequest {
  point?: string;
  planned?: boolean;
}

/** A disk of the machine as a recovery saga needs it. */
export interface RecoveryDisk {
  diskId: string;
  os: boolean;
}

/** Input of every recovery saga (built by the control plane; the saga's history keeps it). */
export interface RecoveryJobInput {
  machineId: string;
  operation: RecoveryJobType;
  /** Point choice: a named choice or a point id (absent for cleanup, commit, cancel). */
  choice?: string;
  planned?: boolean;
  /** The settings as they were when the job started (a later change does not move a running saga). */
  settings: RecoverySettings;
  disks: RecoveryDisk[];
  /** The source's IPv4 addresses (last heartbeat), for 'keep' private IPs. */
  sourceIps: string[];
}
