import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../../edge-agent/journal/groupCommit';

/**
 * A GroupCommit over syncs the test completes by hand (so "while it runs" is exact), whose
 * owner counts writes the way the splitter and the segment log do.
 */
function trackedCommit() {
  const pending: Array<() => void> = [];
  let written = 0;
  let atStart = 0;
  const gc = new GroupCommit(
    () => {
      atStart = written;
      return new Promise<void>((resolve) => pending.push(resolve));
    },
    () => written !== atStart,
  );
  return { gc, pending, write: () => written++ };
}

describe('GroupCommit', () => {
  it('a request while a sync runs, with nothing written since it started, shares that sync', async () => {
    const { gc, pending, write } = trackedCommit();
    write();
    const a = gc.request();
    const b = gc.request(); // a FLUSH right behind another, no write in between
    expect(pending).toHaveLength(1);
    pending[0]!();
    await Promise.all([a, b]);
    expect(gc.syncs).toBe(1);
  });

  it('a request after a write that the running sync may not cover waits for the next sync', async () => {
    const { gc, pending, write } = trackedCommit();
    const a = gc.request();
    write();
    let bDone = false;
    const b = gc.request().then(() => (bDone = true));
    const c = gc.request(); // shares b's sync
    pending[0]!();
    await a;
    await new Promise((r) => setImmediate(r));
    expect(bDone).toBe(false); // its write came after the first sync started
    expect(pending).toHaveLength(2);
    pending[1]!();
    await Promise.all([b, c]);
    expect(gc.syncs).toBe(2);
  });
});
