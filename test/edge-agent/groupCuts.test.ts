import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentState } from '../../edge-agent/agentState';
import { GroupCuts, type GroupCut } from '../../edge-agent/groupCuts';

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
