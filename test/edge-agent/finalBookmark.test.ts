import { describe, expect, it } from 'vitest';
import type { BookmarkRequest, ChangeSource } from '../../edge-agent/changeSource';
import { FinalBookmark, type FinalBookmarkRequest } from '../../edge-agent/finalBookmark';

/** A source that records the order of holds, releases and bookmarks. */
function source(canHold = true) {
  const events: string[] = [];
  const s = {
    requestBookmark: async (r: BookmarkRequest) => void events.push(`bookmark ${r.id}`),
    ...(canHold
      ? {
          holdWrites: () => {
            events.push('hold');
            return () => events.push('release');
          },
        }
      : {}),
  } as unknown as ChangeSource;
  return { s, events };
}

describe('planned failover: the final bookmark', () => {
  it('holds writes, then inserts the bookmark once; writes flow again only when withdrawn', async () => {
    const { s, events } = source();
    let want: FinalBookmarkRequest | null = null;
    const f = new FinalBookmark(
      s,
      async () => want,
      () => undefined,
    );
    await f.poll();
    expect(events).toEqual([]);
    want = { id: 'final-job-1', requestedAt: 'now' };
    await f.poll();
    await f.poll(); // the same request again: nothing more
    expect(events).toEqual(['hold', 'bookmark final-job-1']);
    expect(f.holding).toBe(true);
    want = { ...want, done: true }; // the point exists: still held
    await f.poll();
    expect(events).toEqual(['hold', 'bookmark final-job-1']);
    want = null; // cancelled / compensated
    await f.poll();
    expect(events).toEqual(['hold', 'bookmark final-job-1', 'release']);
    expect(f.holding).toBe(false);
  });

  it('a restarted agent holds again for a bookmark already taken, without a second one', async () => {
    const { s, events } = source();
    const f = new FinalBookmark(
      s,
      async () => ({ id: 'final-job-1', requestedAt: 'now', done: true }),
      () => undefined,
    );
    await f.poll();
    expect(events).toEqual(['hold']);
  });

  it('a source that cannot hold writes (the scan) still takes the bookmark', async () => {
    const { s, events } = source(false);
    const f = new FinalBookmark(
      s,
      async () => ({ id: 'final-job-2', requestedAt: 'now' }),
      () => undefined,
    );
    await f.poll();
    expect(events).toEqual(['bookmark final-job-2']);
    expect(f.holding).toBe(false);
  });
});
