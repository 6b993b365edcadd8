import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { incidents } from './support/admin';
import {
  bookmarkOf,
  captureRun,
  duplicatedShuffled,
  machineClient,
  publish,
  waitForPoint,
} from './support/delivery';
import { agentStarted, killAfter, randomInt } from './support/kill';
import { changeFiles, makeImage, sha256File } from './support/images';
import { protectedMachine, restore, runOnce, startRunOnce, type Machine } from './support/machine';
import { replicaSha, plantStaged } from './support/storage';
import { sleep, startStack, type Exit, type StackProc } from './support/procs';

const SIZE_MIB = 16;
const ITERATIONS = 20;
// How the stack goes down in the stack-restart test. Default 'term': SIGTERM while the agent
// sends and the host ingests/hydrates (in-flight invocations are cut off; the emulators flush).
// 'all' / 'host' SIGKILL the whole group / all but Azurite: the local emulators are not
// crash-durable (Azurite saves blob metadata every few seconds, the in-process Cosmos emulator
// snapshots ~500 ms after a write), so storage and Cosmos can come back disagreeing — a
// failure of the stand-ins, not of Haven (Azure Storage and Cosmos acknowledge durably). Host
// SIGKILLs on durable storage are covered by test/local/durable/crash.test.ts and
// test/local/eventhubs/durability.test.ts.
const KILL = (process.env.HAVEN_E2E_STACK_KILL ?? 'term') as 'term' | 'host' | 'all';

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

/**
 * A protected machine with a first point, and its fault window: as long as an undisturbed run
 * takes once it holds its state dir (scan, spool, send, hydrate, point).
 */
async function warmedUpMachine(
  stack: StackProc,
  mdir: string,
): Promise<{ m: Machine; window: number }> {
  const image = path.join(mdir, 'disk.img');
  makeImage(image, SIZE_MIB);
  const m = await protectedMachine(stack, mdir, image);
  await runOnce(m);
  changeFiles(m.image, 'warm', 4);
  const warm = startRunOnce(m);
  await agentStarted(m.stateDir, warm);
  const t = Date.now();
  expect((await warm.done).code).toBe(0);
  return { m, window: Date.now() - t };
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
    const { m, window } = await warmedUpMachine(stack, mdir);
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
    // Most runs are killed (the rest finished first); either way the next point must be exact.
    expect(killed).toBeGreaterThanOrEqual(ITERATIONS / 4);
    await expectNoIncidents(stack, m.machineId);
  });

  it('stack stopped while the agent sends / the host hydrates, restarted on its state: the next point is exact', async () => {
    const mdir = mkdtempSync(path.join(dir, 'stack-kill-'));
    let own = await startStack(path.join(mdir, 'stack'));
    try {
      const { m, window } = await warmedUpMachine(own, mdir);
      const outcomes: Record<string, number> = {};
      for (let i = 0; i < ITERATIONS; i++) {
        changeFiles(m.image, `b${i}`, 1 + (i % 4), 128 + i * 64);
        const want = sha256File(m.image);
        const run = startRunOnce(m, ['--timeout', '60']);
        await agentStarted(m.stateDir, run);
        await new Promise((r) => setTimeout(r, randomInt(0, window)));
        if (KILL === 'term') await own.stop();
        else await own.kill9(KILL);
        own = await startStack(own.stateDir, own.port);
        // The interrupted run retries through the outage; either way it must end.
        const r: Exit = await run.done;
        const how = r.code === 0 ? 'run survived' : 'run failed';
        outcomes[how] = (outcomes[how] ?? 0) + 1;
        const p = await runOnce(m, 60);
        expect(await restoredSha(m, mdir, p.id), `iteration ${i}`).toBe(want);
      }
      console.log('stack kills:', outcomes);
      await expectNoIncidents(own, m.machineId);
    } finally {
      await own.stop();
    }
  });

  it('duplicated and re-ordered delivery straight to Event Hubs: points exact, duplicates are no-ops', async () => {
    const mdir = mkdtempSync(path.join(dir, 'dup-'));
    const image = path.join(mdir, 'disk.img');
    makeImage(image, SIZE_MIB);
    const m = await protectedMachine(stack, mdir, image);
    for (let i = 0; i < ITERATIONS; i++) {
      if (i > 0) changeFiles(m.image, `c${i}`, 1 + (i % 4), 64 + i * 64);
      const want = sha256File(m.image);
      const batches = await captureRun(m, path.join(mdir, `capture-${i}`));
      await publish(m, duplicatedShuffled(batches.map((b) => b.envelope)));
      const p = await waitForPoint(m, bookmarkOf(batches));
      expect(await restoredSha(m, mdir, p.id), `iteration ${i}`).toBe(want);
    }
    await expectNoIncidents(stack, m.machineId);
  });

  it('one corrupted byte in a staged batch: refused and recorded, replica unchanged, the disk does not advance past it', async () => {
    const root = mkdtempSync(path.join(dir, 'corrupt-'));
    const once = async (i: number) => {
      const mdir = mkdtempSync(path.join(root, `${i}-`));
      const image = path.join(mdir, 'disk.img');
      makeImage(image, 8);
      const m = await protectedMachine(stack, mdir, image);
      await runOnce(m);
      const src1 = sha256File(m.image);
      changeFiles(m.image, `d${i}`, 2);
      const batches = await captureRun(m, path.join(mdir, 'capture'));
      const first = batches[0]!;
      const bad = Buffer.from(first.envelope);
      bad[randomInt(0, bad.length)]! ^= 1 << randomInt(0, 8);
      await plantStaged(stack, m, first.seq, bad, first.envelope, i % 2 === 0);
      await publish(
        m,
        batches.map((b) => b.envelope),
      );

      let inc = await incidents(stack, m.machineId);
      for (let t = 0; !inc.disks[0]?.stopped && t < 600; t++) {
        await sleep(200);
        inc = await incidents(stack, m.machineId);
      }
      expect(inc.disks[0]?.stopped, `iteration ${i}`).toMatchObject({ seq: first.seq });
      expect(inc.disks[0]!.appliedSeq).toBe(first.seq - 1);
      expect(inc.alerts.map((a) => [a.kind, a.seq])).toEqual([
        ['replication-integrity', first.seq],
      ]);
      // Later batches (a new run through Event Hubs) are refused too: no point, no progress.
      changeFiles(m.image, `e${i}`, 1);
      const r = await startRunOnce(m, ['--timeout', '3']).done;
      expect(r.code).not.toBe(0);
      expect(
        await machineClient(m).recoveryPoint(m.machineId, bookmarkOf(batches)),
      ).toBeUndefined();
      inc = await incidents(stack, m.machineId);
      expect(inc.disks[0]!.appliedSeq).toBe(first.seq - 1);
      expect(await replicaSha(stack, m, 8 * 2 ** 20)).toBe(src1);
    };
    for (let i = 0; i < ITERATIONS; i += 2) await Promise.all([once(i), once(i + 1)]);
  });
});
