import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentState } from '../../edge-agent/agentState';
import {
  GroupCuts,
  planCut,
  refineClock,
  stillBarrier,
  type GroupCut,
} from '../../edge-agent/groupCuts';

const cut = (id: string): GroupCut => ({
  id,
  groupId: 'erp',
  consistency: 'crash',
  createdAt: '2026-12-01T10:00:00.000Z',
});

describe('group cuts in the agent state', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const state = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'haven-gc-'));
    dirs.push(dir);
    return new AgentState(dir);
  };

  it('takes a cut once; once spooled it is never taken again, also after a restart', async () => {
    const st = state();
    const a = await GroupCuts.load(st, []);
    expect(a.take([cut('gb-1'), cut('gb-2')]).map((c) => c.id)).toEqual(['gb-1', 'gb-2']);
    // Polled again while in flight: nothing new.
    expect(a.take([cut('gb-1'), cut('gb-2')])).toEqual([]);
    await a.spooled('gb-1');
    await a.spooled('bm-own-crash-bookmark'); // not a group cut: not recorded
    // Restart: gb-1 reached the spool; gb-2 was requested but never spooled, so it is taken again.
    const b = await GroupCuts.load(st, []);
    expect(b.take([cut('gb-1'), cut('gb-2')]).map((c) => c.id)).toEqual(['gb-2']);
  });

  it('counts bookmarks in the bookmark log or left in the spool as inserted (crash before recording)', async () => {
    const st = state();
    writeFileSync(
      st.bookmarksFile,
      JSON.stringify([{ id: 'gb-logged', cutAt: '2026-12-01T10:00:00.000Z', seqs: {} }]),
    );
    const g = await GroupCuts.load(st, ['gb-spooled']);
    const got = g.take([cut('gb-logged'), cut('gb-spooled'), cut('gb-new')]);
    expect(got.map((c) => c.id)).toEqual(['gb-new']);
  });

  it('a released cut (its freeze hook failed) is taken again by the next poll', async () => {
    const g = await GroupCuts.load(state(), []);
    expect(g.take([cut('gb-1')])).toHaveLength(1);
    g.release('gb-1');
    expect(g.take([cut('gb-1')])).toHaveLength(1);
  });
});

describe('timed cut plan', () => {
  const T = Date.parse('2026-12-01T10:00:10.000Z');
  const timed: GroupCut = { ...cut('gb-t'), cutAt: new Date(T).toISOString(), holdMs: 100 };

  it("inserts at cutAt on the control plane's clock and holds writes after it", () => {
    // Our clock is 2.5 s behind the control plane's: cutAt is T - 2500 here.
    const clock = { offsetMs: 2500, uncertaintyMs: 20 };
    const plan = planCut(timed, clock, T - 9000);
    expect(plan).toEqual({ at: T - 2500, holdMs: 100, uncertaintyMs: 20 });
    // A timer that fires late moves the cut like a clock error: they share half the hold.
    expect(stillBarrier(plan, T - 2500 + 30)).toBe(true);
    expect(stillBarrier(plan, T - 2500 + 31)).toBe(false);
  });

  it('is no barrier when seen too late, with a clock known too loosely, or untimed', () => {
    const exact = { offsetMs: 0, uncertaintyMs: 5 };
    expect(planCut(timed, exact, T + 40)).toMatchObject({
      at: T + 40,
      holdMs: 0,
      notBarrier: 'seen 40 ms after the cut',
    });
    // Half the hold must cover our uncertainty (the other member's covers the other half);
    // a looser clock inserts the cut once it has certainly come, never before it.
    expect(planCut(timed, { offsetMs: 0, uncertaintyMs: 51 }, T - 5000)).toMatchObject({
      at: T + 51,
      holdMs: 0,
    });
    expect(planCut(timed, { offsetMs: 300, uncertaintyMs: 900 }, T - 5000)).toMatchObject({
      at: T - 300 + 900,
      holdMs: 0,
    });
    expect(planCut(timed, { offsetMs: 0, uncertaintyMs: 50 }, T - 5000)).toEqual({
      at: T,
      holdMs: 100,
      uncertaintyMs: 50,
    });
    expect(planCut(cut('gb-old'), exact, T)).toMatchObject({ at: T, holdMs: 0 });
    expect(planCut(timed, undefined, T - 5000)).toMatchObject({ at: T - 5000, holdMs: 0 });
  });
});

describe('control-plane clock estimate', () => {
  it('keeps the sample with the shortest round trip, letting it age', () => {
    const a = refineClock(undefined, { offsetMs: 500, uncertaintyMs: 40 }, 0);
    const b = refineClock(a, { offsetMs: 480, uncertaintyMs: 3 }, 1000);
    expect(b).toEqual({ offsetMs: 480, uncertaintyMs: 3, at: 1000 });
    // A slow poll does not replace it…
    const c = refineClock(b, { offsetMs: 530, uncertaintyMs: 60 }, 2000);
    expect(c?.offsetMs).toBe(480);
    expect(c?.uncertaintyMs).toBeCloseTo(3.1);
    // …until the kept one has aged past it (100 ppm: 10 minutes add 60 ms).
    const d = refineClock(c, { offsetMs: 530, uncertaintyMs: 60 }, 602_000);
    expect(d?.offsetMs).toBe(530);
    expect(refineClock(d, undefined, 603_000)).toBe(d);
  });
});
