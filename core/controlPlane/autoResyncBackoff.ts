import type { DiskReplicationDoc } from '../replication/state';
import { MACHINE_RESYNC_INTERVAL_MS } from './machineResyncPace';
import type { DiskResync, ProtectedItemDoc } from './model';

/**
 * How many automatic resyncs of one disk may follow each other before the control plane stops
 * trying and asks an operator (as ASR gives up on a resynchronization that keeps failing). Each
 * one is a full copy of the disk, a job and an alert: a machine whose every generation stops (a
 * broken agent) must not cost that for ever.
 */
export const AUTO_RESYNC_LIMIT = 5;

/**
 * A generation that had a recovery point and replicated this long before it stopped was healthy:
 * its stop is news, not part of a pattern, so the automatic resyncs before it no longer count.
 */
export const HEALTHY_GENERATION_MS = 24 * 3600_000;

/** The n-th automatic resync in a row waits this long after the one before it: 10, 20, 40… min. */
export const autoResyncDelayMs = (n: number): number =>
  MACHINE_RESYNC_INTERVAL_MS * 2 ** Math.max(0, n - 1);

/**
 * How many automatic resyncs in a row the disk had when its current generation stopped (0 when
 * that generation was not started by one). The streak goes on while each stopped generation was
 * started automatically, or by the agent in the middle of a streak (`carriedStreak`); it ends
 * with any other start (an operator's resync, a resize, a re-enable), a fresh protection since,
 * or a stopped generation that was healthy (a recovery point and `HEALTHY_GENERATION_MS` between
 * its start and its stop).
 */
export function autoResyncStreak(
  last: DiskResync | undefined,
  stopped: DiskReplicationDoc,
  item: ProtectedItemDoc | undefined,
): number {
  const counted =
    last?.requestedBy === 'auto' || (last?.requestedBy === 'agent' && !!last.autoInARow);
  if (!last || !counted || last.generation !== stopped.generation) return 0;
  const startedAt = Date.parse(last.requestedAt);
  const reprotected = item?.history.some(
    (h) => h.to === 'enabling' && Date.parse(h.at) > startedAt,
  );
  if (reprotected) return 0;
  const ranFor = Date.parse(stopped.stopped?.at ?? stopped.updatedAt) - startedAt;
  if (stopped.complete && ranFor >= HEALTHY_GENERATION_MS) return 0;
  // Records written before the streak was kept count as the first of one.
  return last.autoInARow ?? 1;
}

/**
 * The streak an agent's resync request carries on (recorded on it as `autoInARow`): the one of
 * the generation it leaves, if an automatic resync (or another such request) started that one
 * less than `HEALTHY_GENERATION_MS` ago. An agent asks for a resync of its own (a lost index, a
 * refused batch): one that does so each time its generations break must not reset the count
 * and loop for ever at the machine's pace. Undefined: no streak to carry.
 */
function carriedStreak(last: DiskResync | undefined, now: number): number | undefined {
  if (!last?.autoInARow || (last.requestedBy !== 'auto' && last.requestedBy !== 'agent'))
    return undefined;
  return now - Date.parse(last.requestedAt) < HEALTHY_GENERATION_MS ? last.autoInARow : undefined;
}

/** What a new generation's resync record keeps of the streak: its own count, or one an agent's request carries on. */
export function streakRecord(
  req: Pick<DiskResync, 'requestedBy' | 'autoInARow'>,
  last: DiskResync | undefined,
  now: number,
): { autoInARow?: number } {
  const n = req.autoInARow ?? (req.requestedBy === 'agent' ? carriedStreak(last, now) : undefined);
  return n ? { autoInARow: n } : {};
}
