import type { DeployedVm, RecoveryRecordDoc } from './model';

/**
 * What the sagas record on the machine's recovery record. Each change names the job making
 * it and is a no-op when the record has moved on (another job owns it): activities are
 * retried and replayed, so applying a change twice must be harmless.
 */
export type RecordChange =
  | { kind: 'test-ready'; jobId: string; vm: DeployedVm }
  /** The test failover's saga failed and could not delete everything: reported, cleaned later. */
  | { kind: 'test-failed'; jobId: string; leftovers: string[] }
  /** The test failover's saga compensated, or its cleanup finished: nothing left. */
  | { kind: 'test-clear'; jobId: string }
  /** A cleanup failed part-way: the test stays (reported), cleanup may be retried. */
  | { kind: 'test-cleanup-failed'; jobId: string }
  | { kind: 'failover-ready'; jobId: string; vm: DeployedVm }
  /** The failover compensated, or was cancelled: the machine is protected again. */
  | { kind: 'failover-clear'; jobId: string }
  /** Planned failover: ask the agent for its final bookmark. */
  | { kind: 'final-bookmark'; jobId: string; id: string; requestedAt: string }
  /** A change-point / commit / cancel job ends; `vm` replaces the deployed VM when given. */
  | { kind: 'release'; jobId: string; vm?: DeployedVm; committedAt?: string };

export function applyRecordChange(
  r: RecoveryRecordDoc,
  c: RecordChange,
): RecoveryRecordDoc | undefined {
  switch (c.kind) {
    case 'test-ready':
      if (r.test?.jobId !== c.jobId) return undefined;
      r.test = { ...r.test, state: 'ready', vm: c.vm };
      return r;
    case 'test-failed':
      if (r.test?.jobId !== c.jobId) return undefined;
      r.test = { ...r.test, state: 'failed', leftovers: c.leftovers };
      return r;
    case 'test-clear':
      if (r.test?.jobId !== c.jobId && r.test?.cleanupJobId !== c.jobId) return undefined;
      delete r.test;
      return r;
    case 'test-cleanup-failed':
      if (r.test?.cleanupJobId !== c.jobId) return undefined;
      r.test = { ...r.test, state: 'ready' };
      delete r.test.cleanupJobId;
      return r;
    case 'failover-ready':
      if (r.failover?.jobId !== c.jobId) return undefined;
      r.failover = { ...r.failover, vm: c.vm };
      return r;
    case 'final-bookmark':
      if (r.failover?.jobId !== c.jobId || r.failover.finalBookmark) return undefined;
      r.failover = { ...r.failover, finalBookmark: { id: c.id, requestedAt: c.requestedAt } };
      return r;
    case 'failover-clear':
      if (r.failover?.jobId !== c.jobId && r.failover?.busyJobId !== c.jobId) return undefined;
      delete r.failover;
      return r;
    case 'release':
      if (r.failover?.busyJobId !== c.jobId) return undefined;
      r.failover = {
        ...r.failover,
        ...(c.vm ? { vm: c.vm } : {}),
        ...(c.committedAt ? { committedAt: c.committedAt } : {}),
      };
      delete r.failover.busyJobId;
      delete r.failover.busyKind;
      return r;
  }
}
