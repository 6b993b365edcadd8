import * as path from 'node:path';
import type { AgentState } from './agentState';
import type { BookmarkLogEntry } from './agentTypes';
import type { BookmarkRequests } from './bookmarkRequests';
import { readJson, writeFileAtomic } from './fsUtil';
import type { GroupCuts } from './groupCuts';
import type { Spool } from './spool';

/**
 * The bookmarks this run has spooled: each is remembered (for `cut` and the status's RPO),
 * appended to the bookmarks file, and told to the consistency-group cuts and to a waiting
 * `haven-agent bookmark` (its done file).
 */
export class CutBookmarks {
  private readonly cut = new Map<string, string>(); // id -> cutAt
  /** The newest; marked acked (in place) once every disk's batch up to it is acknowledged. */
  last?: { id: string; cutAt: string; ackedAt?: string; seqs: Record<string, number> };

  constructor(
    private readonly state: AgentState,
    private readonly spool: Spool,
    /** Consistency-group cuts, each inserted at most once. */
    private readonly groupCuts: GroupCuts,
    /** Bookmarks asked for by `haven-agent bookmark`: a done file tells it when they are spooled. */
    private readonly requests: BookmarkRequests,
  ) {}

  /** Bookmark `id`, cut at `cutAt`, has reached the spool. */
  async spooled(id: string, cutAt: string): Promise<void> {
    this.last = { id, cutAt, seqs: this.spool.lastSeqs() };
    this.cut.set(id, cutAt);
    await this.record({ id, cutAt, seqs: this.spool.lastSeqs() });
    await this.groupCuts.spooled(id);
    if (this.requests.requested.delete(id)) {
      await writeFileAtomic(
        path.join(this.state.requestsDir, `${id}.done`),
        JSON.stringify({ id, cutAt, seqs: this.spool.lastSeqs() }),
      );
    }
  }

  has(id: string): boolean {
    return this.cut.has(id);
  }

  private async record(b: BookmarkLogEntry): Promise<void> {
    const log = (await readJson<BookmarkLogEntry[]>(this.state.bookmarksFile)) ?? [];
    log.push(b);
    await writeFileAtomic(this.state.bookmarksFile, JSON.stringify(log.slice(-500)), 0o600);
  }
}
