import { describe, expect, it } from 'vitest';
import { mapLimit, startLimited } from '../../core/mapLimit';

describe('mapLimit', () => {
  it('keeps input order and never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0], 2, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, n));
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0]);
    expect(peak).toBe(2);
  });

  it('rejects with the first failure', async () => {
    await expect(
      mapLimit([1, 2, 3], 3, async (n) => {
        if (n === 2) throw new Error('two');
        return n;
      }),
    ).rejects.toThrow('two');
  });

  it('startLimited: starts in order within the limit and tells which have settled', async () => {
    const release = new Map<number, () => void>();
    const started: number[] = [];
    const tracked = startLimited([0, 1, 2, 3], 2, (n) => {
      started.push(n);
      return new Promise<number>((r) => release.set(n, () => r(n * 10)));
    });
    expect(started).toEqual([0, 1]);
    expect(tracked.map((t) => t.settled)).toEqual([false, false, false, false]);
    release.get(1)!();
    await tracked[1]!.promise;
    // The slot item 1 freed went to item 2 (input order), item 0 still runs.
    expect(started).toEqual([0, 1, 2]);
    expect(tracked.map((t) => t.settled)).toEqual([false, true, false, false]);
    release.get(0)!();
    release.get(2)!();
    await tracked[2]!.promise;
    release.get(3)!();
    expect(await Promise.all(tracked.map((t) => t.promise))).toEqual([0, 10, 20, 30]);
    expect(tracked.every((t) => t.settled)).toBe(true);
  });
});
