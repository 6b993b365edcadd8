import type { Consistency } from '../core/batch';
import type { AgentState } from './agentState';
import type { BookmarkLogEntry } from './agent';
import { readJson, writeFileAtomic } from './fsUtil';

/** A consistency-group cut the control plane asks this machine to insert. */
export interface GroupCut {
  id: string;
  groupId: string;
  consistency: Consistency;
  createdAt: string;
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
