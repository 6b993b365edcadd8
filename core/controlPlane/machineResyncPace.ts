import { conflict } from '../errors';
import type { DiskResync } from './model';

/**
 * How often the machine itself (an agent that lost its tracking state, a resize it reports) may
 * start a new generation of one disk. Each generation is a fresh replica, a job and a full copy
 * of the disk, and an agent controls how soon the previous one is done (a bookmark gives it its
 * first point) or stopped (a conflicting batch): without a pace, ask, finish, ask… starts
 * generations without end. An admin's resync is never held back.
 */
export const MACHINE_RESYNC_INTERVAL_MS = 10 * 60_000;

/** Throws a `conflict` (with `retryAfterSeconds`) when the machine asks again too soon. */
export function assertMachineResyncPace(
  where: { machineId: string; diskId: string },
  requestedBy: DiskResync['requestedBy'],
  last: DiskResync | undefined,
  now: number,
): void {
  if (requestedBy === 'admin' || !last || last.requestedBy === 'admin') return;
  const since = now - Date.parse(last.requestedAt);
  if (since >= MACHINE_RESYNC_INTERVAL_MS) return;
  const retryAfterSeconds = Math.ceil((MACHINE_RESYNC_INTERVAL_MS - since) / 1000);
  throw conflict(
    `Disk '${where.diskId}' of machine '${where.machineId}' started generation ${last.generation} (${last.requestedBy}) ${Math.floor(since / 1000)} s ago; the machine may start another in ${retryAfterSeconds} s (an admin's resync is not held back).`,
    { generation: last.generation, retryAfterSeconds },
  );
}
