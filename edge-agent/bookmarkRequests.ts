import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { AgentSettings } from './agentState';
import type { BookmarkRequestFile } from './agentTypes';
import type { ChangeSource } from './changeSource';
import { readJson } from './fsUtil';
import { withFreezeHooks } from './hookedBookmark';

/**
 * Bookmarks asked for by `haven-agent bookmark` (a request file in the state directory): each is
 * taken once, inserted into the change stream (with the freeze hooks for app-consistent ones),
 * and remembered so the agent can write its `.done` file once the bookmark is spooled.
 */
export class BookmarkRequests {
  readonly requested = new Set<string>();
  private polling = false;

  constructor(
    private readonly dir: string,
    private readonly source: ChangeSource,
    private readonly settings: AgentSettings,
  ) {}

  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const files = await fsp.readdir(this.dir).catch(() => [] as string[]);
      for (const f of files.filter((x) => x.endsWith('.json'))) {
        const req = await readJson<BookmarkRequestFile>(path.join(this.dir, f));
        await fsp.rm(path.join(this.dir, f), { force: true });
        if (!req) continue;
        this.requested.add(req.id);
        await withFreezeHooks(this.settings, req.consistency === 'app', () =>
          this.source.requestBookmark({ id: req.id, consistency: req.consistency }),
        );
      }
    } finally {
      this.polling = false;
    }
  }
}
