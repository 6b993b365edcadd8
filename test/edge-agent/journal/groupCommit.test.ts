import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../../edge-agent/journal/groupCommit';

/** A sync the test completes by hand, so "while it runs" is exact. */
function manualSyncs() {
  const pending: Array<() => void> = [];
  const doSync = () => new Promise<void>((resolve) => pending.push(resolve));
  return { pending, doSync };
}

describe('GroupCommit', () => {
  it('a request while a sync runs, with nothing written since it started, shares that sync', async () => {
    const { pending, doSync } = manualSyncs();
    let written = 0;
    let atStart = 0;
    const gc = new GroupCommit(
      () => {
        atStart = written;
        return doSync();
      },
      () => written !== atStart,
    );
    written++;
    const a = gc.request();
    const b = gc.request(); // a FLUSH right behind another, no write in between
    expect(pending).toHaveLength(1);
    pending[0]!();
    await Promise.all([a, b]);
    expect(gc.syncs).toBe(1);
  });

  it('a request after a write that the running sync may not cover waits for the next sync', async () => {
    const { pending, doSync } = manualSyncs();
    let written = 0;
    let atStart = 0;
    const gc = new GroupCommit(
      () => {
        atStart = written;
        return doSync();
      },
      () => written !== atStart,
    );
    const a = gc.request();
    written++;
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
