import type { Consistency } from '../core/batch';
import type { AgentState } from './agentState';
import type { BookmarkLogEntry } from './agentTypes';
import { readJson, writeFileAtomic } from './fsUtil';

/** A consistency-group cut the control plane asks this machine to insert. */
export interface GroupCut {
  id: string;
  groupId: string;
  consistency: Consistency;
  createdAt: string;
  /** Timed cut: insert at this moment of the control plane's clock, then hold writes holdMs. */
  cutAt?: string;
  holdMs?: number;
}

/** Another clock as seen from here: theirs ≈ ours + offsetMs, give or take uncertaintyMs. */
export interface PeerClock {
  offsetMs: number;
  uncertaintyMs: number;
}

/**
 * Keeps the tightest estimate of the control plane's clock across polls (the sample with the
 * shortest round trip, as NTP does), letting an old one age by a drift allowance of 100 ppm.
 */
export function refineClock(
  prev: (PeerClock & { at: number }) | undefined,
  sample: PeerClock | undefined,
  now: number,
): (PeerClock & { at: number }) | undefined {
  if (!sample) return prev;
  if (!prev) return { ...sample, at: now };
  const aged = prev.uncertaintyMs + (now - prev.at) * 1e-4;
  return sample.uncertaintyMs <= aged
    ? { ...sample, at: now }
    : { ...prev, uncertaintyMs: aged, at: now };
}

/** When to insert a cut (local ms) and whether it is a barrier across machines. */
export type CutPlan =
  | { at: number; holdMs: number; uncertaintyMs: number }
  | { at: number; holdMs: 0; notBarrier: string };

/**
 * Timed cut (docs/consistencyGroups.md): every member inserts the cut at `cutAt` and holds new
 * writes for `holdMs` after it. A write acknowledged after a member's cut is acknowledged after
 * cutAt + holdMs by that member's clock; anything it causes on another member happens later
 * still, which is after that member's cut as long as the two clocks differ by less than holdMs.
 * Each member knows its own distance to the control plane's clock within uncertaintyMs, so a
 * member whose uncertainty exceeds half the hold (it inserts the cut once the moment has
 * certainly come), or who learns of the cut after its moment, still inserts it (the id must be
 * in its stream) but it is not a barrier.
 */
export function planCut(cut: GroupCut, clock: PeerClock | undefined, now: number): CutPlan {
  if (!cut.cutAt) return { at: now, holdMs: 0, notBarrier: 'untimed cut' };
  if (!clock) return { at: now, holdMs: 0, notBarrier: 'no control-plane clock' };
  const at = Date.parse(cut.cutAt) - clock.offsetMs;
  const holdMs = cut.holdMs ?? 0;
  if (now > at) return { at: now, holdMs: 0, notBarrier: `seen ${now - at} ms after the cut` };
  // Not a barrier, but still never before the cut by the control plane's clock: inserted once
  // the cut has certainly come, wherever in its uncertainty the true offset lies.
  if (clock.uncertaintyMs * 2 > holdMs)
    return {
      at: at + clock.uncertaintyMs,
      holdMs: 0,
      notBarrier: `clock uncertainty ${Math.round(clock.uncertaintyMs)} ms exceeds half the ${holdMs} ms hold`,
    };
  return { at, holdMs, uncertaintyMs: clock.uncertaintyMs };
}

/**
 * Whether a planned barrier still is one when the timer fires at `now`: firing late moves this
 * member's cut like a clock error does, so lateness and uncertainty share half the hold.
 */
export function stillBarrier(plan: CutPlan, now: number): boolean {
  if ('notBarrier' in plan || plan.holdMs <= 0) return false;
  return (Math.max(0, now - plan.at) + plan.uncertaintyMs) * 2 <= plan.holdMs;
}

/** How many inserted cut ids the state file remembers (the control plane keeps a cut for 24 h). */
const REMEMBER = 2000;

/**
 * Consistency-group cuts, each inserted into the change stream at most once, across restarts:
 * an id is done once its bookmark reached the spool (`group-cuts.json`, plus the bookmark log
 * and the bookmarks found in the spool after its checkpoint, which cover a crash between
 * spooling and recording). A cut requested but never spooled (the agent stopped first) is
 * requested again by the next run.
 */
export class GroupCuts {
  private readonly inFlight = new Set<string>();

  private constructor(
    private readonly file: string,
    private readonly done: string[],
  ) {}

  static async load(state: AgentState, spooledBookmarks: readonly string[]): Promise<GroupCuts> {
    const own = (await readJson<string[]>(state.groupCutsFile)) ?? [];
    const log = (await readJson<BookmarkLogEntry[]>(state.bookmarksFile)) ?? [];
    const done = [...new Set([...own, ...log.map((b) => b.id), ...spooledBookmarks])];
    return new GroupCuts(state.groupCutsFile, done);
  }

  /** The cuts of `pending` to request now: not inserted yet and not already requested. */
  take(pending: readonly GroupCut[]): GroupCut[] {
    const out = pending.filter((c) => !this.done.includes(c.id) && !this.inFlight.has(c.id));
    for (const c of out) this.inFlight.add(c.id);
    return out;
  }

  /** The request for `id` failed before reaching the source: a later poll may take it again. */
  release(id: string): void {
    this.inFlight.delete(id);
  }

  /** The bookmark `id` reached the spool; persisted before the next poll can ask again. */
  async spooled(id: string): Promise<void> {
    if (!this.inFlight.delete(id)) return;
    this.done.push(id);
    await writeFileAtomic(this.file, JSON.stringify(this.done.slice(-REMEMBER)), 0o600);
  }
}
