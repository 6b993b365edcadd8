import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { incidents } from './support/admin';
import { agentStarted, killAfter, randomInt } from './support/kill';
import { changeFiles, keepCopy, makeImage, sha256File } from './support/images';
import { protectedMachine, restore, runOnce, startRunOnce, type Machine } from './support/machine';
import { startStack, type StackProc } from './support/procs';

const SIZE_MIB = 16;
const ITERATIONS = 20;

/** Restores `pointId` and returns its sha256 (restore also checks the point's own digest). */
async function restoredSha(m: Machine, dir: string, pointId: string): Promise<string> {
  const to = path.join(dir, `restore-${pointId}.img`);
  const r = await restore(m, pointId, to);
  expect(r.verified).toBe(true);
  const sha = sha256File(to);
  rmSync(to);
  return sha;
}

/** Nothing conflicting, corrupt or refused was recorded, and no disk is stopped. */
async function expectNoIncidents(stack: StackProc, machineId: string): Promise<void> {
  const inc = await incidents(stack, machineId);
  expect(inc.rejections).toEqual([]);
  expect(inc.alerts).toEqual([]);
  expect(inc.disks.filter((d) => d.stopped)).toEqual([]);
}

describe('data safety under faults (design §6.1–6.3)', { timeout: 1_800_000 }, () => {
  let dir: string;
  let stack: StackProc;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'haven-e2e-faults-'));
    stack = await startStack(path.join(dir, 'stack'));
  }, 300_000);
  afterAll(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('agent SIGKILLed at random moments: the next point is exact, no seq arrives twice with other content', async () => {
    const mdir = mkdtempSync(path.join(dir, 'agent-kill-'));
    const image = path.join(mdir, 'disk.img');
    makeImage(image, SIZE_MIB);
    const m = await protectedMachine(stack, mdir, image);
    await runOnce(m);
    // Kill window: as long as an undisturbed run takes once it holds its state dir (scan,
    // spool, send, hydrate, point).
    changeFiles(m.image, 'warm', 4);
    const warm = startRunOnce(m);
    await agentStarted(m.stateDir, warm);
    const t = Date.now();
    expect((await warm.done).code).toBe(0);
    const window = Date.now() - t;
    let killed = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      changeFiles(m.image, `a${i}`, 1 + (i % 4), 64 + i * 64);
      const run = startRunOnce(m, ['--timeout', '120']);
      const started = await agentStarted(m.stateDir, run);
      if (await killAfter(run, started ? randomInt(0, window) : 0)) killed++;
      const want = sha256File(m.image);
      const p = await runOnce(m, 120);
      expect(await restoredSha(m, mdir, p.id), `iteration ${i}`).toBe(want);
    }
    expect(killed).toBeGreaterThanOrEqual(ITERATIONS / 2);
    await expectNoIncidents(stack, m.machineId);
  });
});
