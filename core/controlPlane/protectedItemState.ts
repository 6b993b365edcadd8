import { conflict } from '../errors';

/**
 * Protected-item lifecycle (architecture §3, §5). Pure: which transitions are allowed and why.
 * "to-site" states belong to the reverse direction (Azure → site) after a failover.
 */
export const protectedItemStates = [
  'enabling', // protect accepted, agent not yet replicating
  'initial-sync', // generation 1 (or a resync generation) being copied
  'initial-sync-stalled', // no progress within the expected time
  'protected', // replicating to Azure, recovery points being cut
  'failing-over', // failover saga running
  'failed-over', // running in Azure; recovery point may still be changed
  'committed', // failover committed; other points dropped
  'reprotecting', // reverse replication (Azure → site) being set up / initial sync
  'reprotected', // replicating Azure → site
  'failing-back', // planned failover to the site
  'failed-back', // running on the site again; re-enable to protect it
  'disabling', // protection being removed (replicas, points, job cleanup)
  'disabled', // protection removed; may be enabled again
] as const;

export type ProtectedItemState = (typeof protectedItemStates)[number];

const transitions: Record<ProtectedItemState, readonly ProtectedItemState[]> = {
  // enabling → failed-back: a re-enable after failback compensated before the disks switched.
  enabling: ['initial-sync', 'disabling', 'failed-back'],
  'initial-sync': ['protected', 'initial-sync-stalled', 'disabling'],
  'initial-sync-stalled': ['initial-sync', 'disabling'],
  // protected → initial-sync is a resync (new generation).
  protected: ['failing-over', 'initial-sync', 'disabling'],
  // failing-over → protected: the saga compensated (nothing was left running in Azure).
  // failing-over → failed-over also ends a change of recovery point (or its compensation).
  'failing-over': ['failed-over', 'protected'],
  // failed-over → failing-over: change recovery point; → protected: cancel failover (the VM
  // and its disks are deleted, replication never stopped).
  'failed-over': ['committed', 'failing-over', 'protected'],
  committed: ['reprotecting', 'disabling'],
  reprotecting: ['reprotected', 'committed'],
  reprotected: ['failing-back', 'disabling'],
  'failing-back': ['failed-back', 'reprotected'],
  // Re-enable: protect the site server again (reusing disks that match).
  'failed-back': ['enabling', 'disabling'],
  disabling: ['disabled'],
  disabled: ['enabling'],
};

export function allowedTransitions(from: ProtectedItemState): readonly ProtectedItemState[] {
  return transitions[from];
}

export function canTransition(from: ProtectedItemState, to: ProtectedItemState): boolean {
  return transitions[from].includes(to);
}

/** Throws `conflict` (409) when the lifecycle does not allow `from → to`. */
export function assertTransition(from: ProtectedItemState, to: ProtectedItemState): void {
  if (!canTransition(from, to)) {
    throw conflict(`A protected item cannot go from '${from}' to '${to}'.`, {
      from,
      to,
      allowed: [...transitions[from]],
    });
  }
}

/**
 * States in which the machine's data is replicating to Azure (ingest accepted). Ingest goes on
 * while failing over and failed over (a planned failover's final bookmark arrives then, and a
 * cancelled failover loses nothing: points keep being cut); it stops at commit.
 */
export const replicatingToAzure: ReadonlySet<ProtectedItemState> = new Set([
  'enabling',
  'initial-sync',
  'initial-sync-stalled',
  'protected',
  'failing-over',
  'failed-over',
]);

/** States in which a protect request means "already protected" rather than "re-enable". */
export const isActive = (s: ProtectedItemState): boolean => s !== 'disabled';
