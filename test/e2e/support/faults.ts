import { readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import type { AdminTarget } from '../../support/adminApi';
import { completeLines } from '../../support/completeLines';
import { incidents } from './admin';
import { changeFiles, makeImage, sha256File } from './images';
import { agentStarted, phaseStarts } from './kill';
import { protectedMachine, restore, runOnce, startRunOnce, type Machine } from './machine';

/** Restores `pointId` and returns its sha256 (restore also checks the point's own digest). */
export async function restoredSha(m: Machine, dir: string, pointId: string): Promise<string> {
  const to = path.join(dir, `restore-${pointId}.img`);
  const r = await restore(m, pointId, to);
  expect(r.verified).toBe(true);
  const sha = sha256File(to);
  rmSync(to);
  return sha;
}

/** Nothing conflicting, corrupt or refused was recorded, and no disk is stopped. */
export async function expectNoIncidents(stack: AdminTarget, machineId: string): Promise<void> {
  const inc = await incidents(stack, machineId);
  expect(inc.rejections).toEqual([]);
  expect(inc.alerts).toEqual([]);
  expect(inc.disks.filter((d) => d.stopped)).toEqual([]);
}

/**
 * A protected machine (a `sizeMiB` ext4 image) with a first point, and how long an undisturbed
 * delta run spends scanning and spooling once it holds its state dir (until its bookmark is
 * spooled): the window random kills aim into.
 */
export async function warmedUpMachine(
  stack: AdminTarget,
  mdir: string,
  sizeMiB: number,
): Promise<{ m: Machine; spoolMs: number }> {
  const image = path.join(mdir, 'disk.img');
  makeImage(image, sizeMiB);
  const m = await protectedMachine(stack, mdir, image);
  await runOnce(m);
  changeFiles(m.image, 'warm', 4);
  const warm = startRunOnce(m);
  await agentStarted(m.stateDir, warm);
  const t = Date.now();
  await phaseStarts(warm, 'sending');
  const spoolMs = Date.now() - t;
  expect((await warm.done).code).toBe(0);
  return { m, spoolMs };
}

/** When a `--json` run logged `msg` (its line's own timestamp), if it did. */
export function loggedAt(stderr: string, msg: string): number | undefined {
  for (const line of completeLines(stderr)) {
    if (!line.startsWith('{') || !line.includes(`"msg":"${msg}"`)) continue;
    return Date.parse((JSON.parse(line) as { at: string }).at);
  }
  return undefined;
}

/** The bookmark a `--json` run spooled, if it got that far. */
export function spooledBookmark(stderr: string): string | undefined {
  const line = completeLines(stderr).find((l) => l.includes('"msg":"bookmark spooled"'));
  return line ? (JSON.parse(line) as { bookmarkId: string }).bookmarkId : undefined;
}

/** When the stack's host log says hydrate published point `id`, if it did. */
export function pointPublishedAt(stack: { stateDir: string }, id: string): number | undefined {
  const log = readFileSync(path.join(stack.stateDir, 'logs', 'host.log'), 'utf8');
  for (const line of log.split('\n')) {
    const points = / info hydrate .*, points (\S+)/.exec(line)?.[1]?.split(',');
    if (points?.includes(id)) return Date.parse(line.slice(0, line.indexOf(' ')));
  }
  return undefined;
}
