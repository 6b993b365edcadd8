import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { replayJournal } from '../../../edge-agent/journal/replay';
import { FuseLoop, fuseConnection, fuseLoopUnavailable } from './fuseLoop';
import { spawnProgram } from '../../support/procs';
import { waitFor } from '../../support/waitFor';
import { control, run, startServeDisk, tempDir } from './helpers';

/**
 * The kernel's own ext4 on a block device whose every write goes through the splitter:
 *   ext4 → /dev/loopN → FUSE file → qemu-storage-daemon (NBD client) → our NBD server → splitter.
 * This machine has no nbd module; losetup over a FUSE export is the stand-in for /dev/nbdX.
 * Needs root, /dev/fuse and qemu-storage-daemon (Debian qemu-system-common, see .ci/run).
 *
 * The NBD server runs in a child process and this process never writes into the mount itself:
 * a process that both serves the disk and blocks in write(2) on the filesystem above it
 * deadlocks in dirty-page throttling (the writeback it waits for needs its own event loop).
 */
const SIZE = 128 * 1024 * 1024;

let fl: FuseLoop | undefined;
afterAll(async () => {
  await fl?.teardown();
});

async function startQsd(socket: string, fuseFile: string): Promise<ChildProcess> {
  writeFileSync(fuseFile, '');
  const p = spawnProgram('qemu-storage-daemon', [
    '--blockdev',
    `driver=nbd,server.type=unix,server.path=${socket},node-name=n0,export=disk0`,
    '--export',
    `type=fuse,id=e0,node-name=n0,mountpoint=${fuseFile},writable=on`,
  ]);
  try {
    // The export is up once the kernel lists its FUSE connection (mountinfo, no stat: a stat
    // of a hung export would block).
    await waitFor('the FUSE export', () => p.exited() || fuseConnection(fuseFile), {
      timeoutMs: 10_000,
    });
  } catch {
    /* reported below */
  }
  if (!p.exited() && fuseConnection(fuseFile)) return p.child;
  p.child.kill('SIGKILL');
  throw new Error(`qemu-storage-daemon did not export ${fuseFile}: ${p.out.stderr}`);
}

/**
 * Whether this machine can run the test, probed when the test runs (never at import: the probe
 * may mount fusectl). Under CI it must run: the set-up step installs what it needs
 * (qemu-system-common for qemu-storage-daemon, fuse3, e2fsprogs, util-linux), so a missing
 * prerequisite fails the test there; elsewhere it is skipped with the reason.
 */
function requirePrerequisites(ctx: TestContext): void {
  const unavailable = fuseLoopUnavailable();
  if (!unavailable) return;
  if (process.env.CI) throw new Error(`kernel ext4 test cannot run under CI: ${unavailable}`);
  console.warn(`kernelFs.int.test: skipped, loop over FUSE unavailable: ${unavailable}`);
  ctx.skip(unavailable);
}

describe('kernel ext4 on the splitter (loop over a FUSE export of the NBD disk)', () => {
  it('mkfs, mount, writes; app-consistent (fsfreeze) and crash-consistent bookmarks replay to filesystems that fsck clean', async (ctx) => {
    requirePrerequisites(ctx);
    fl = new FuseLoop();
    const dir = tempDir();
    const disk = join(dir, 'disk0.img');
    writeFileSync(disk, '');
    truncateSync(disk, SIZE);
    copyFileSync(disk, join(dir, 'initial.img'));
    const socket = join(dir, 'nbd.sock');
    const ctl = join(dir, 'control.sock');
    const jdir = join(dir, 'journal');
    const server = fl.daemon(
      await startServeDisk([
        disk,
        '--socket',
        socket,
        '--journal',
        jdir,
        '--disk-id',
        'disk0',
        '--control',
        ctl,
        '--caller-freezes', // the test freezes the filesystem itself (fsfreeze) around 'app'
      ]),
    );
    const bookmark = (id: string, consistency: 'crash' | 'app') =>
      control(ctl, { op: 'bookmark', id, consistency });

    const fuseFile = join(dir, 'fuse-disk');
    const qsd = fl.daemon(await startQsd(socket, fuseFile));
    fl.fuseMount = fuseFile;
    fl.fuseConn = fuseConnection(fuseFile);
    fl.loop = (await run('losetup', ['-f', '--show', fuseFile])).stdout.trim();
    const loop = fl.loop;
    await run('mkfs.ext4', ['-q', '-F', loop]);
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    await run('mount', [loop, mnt]);
    fl.mnt = mnt;

    // Phase 1: files (made outside, copied in by cp), then an app-consistent bookmark:
    // freeze, cut, thaw.
    const src = join(dir, 'app');
    mkdirSync(src);
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 30; i++) {
      const data = randomBytes(4096 + Math.floor(Math.random() * 200_000));
      writeFileSync(join(src, `f${i}`), data);
      files.set(`/app/f${i}`, data);
    }
    await run('cp', ['-r', src, mnt]);
    await run('fsfreeze', ['-f', mnt]);
    expect(await bookmark('app-1', 'app')).toMatchObject({ ok: true });
    await run('fsfreeze', ['-u', mnt]);

    // Phase 2: a writer keeps going while crash-consistent bookmarks are cut at random moments.
    const writer = run('sh', [
      '-c',
      `mkdir ${mnt}/busy && for i in $(seq 0 59); do head -c $((50000 + i * 5000)) /dev/urandom > ${mnt}/busy/g$i; [ $((i % 10)) -eq 0 ] && sync; done; sync`,
    ]);
    const crashCuts: string[] = [];
    for (let n = 0; n < 4; n++) {
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 200));
      const id = `crash-${n}`;
      expect(await bookmark(id, 'crash')).toMatchObject({ ok: true });
      crashCuts.push(id);
    }
    await writer;
    const status = await control(ctl, { op: 'status' });
    // The orderly way down; whatever does not finish is left to fl.teardown() in afterAll.
    await run('umount', [mnt]);
    fl.mnt = undefined;
    await run('losetup', ['-d', loop]);
    fl.loop = undefined;
    fl.fuseConn = undefined; // nothing in the kernel waits on the export any more
    qsd.kill('SIGTERM'); // unmounts its export
    await new Promise((r) => (qsd.exitCode !== null ? r(null) : qsd.once('exit', r)));
    fl.fuseMount = undefined;
    server.kill('SIGTERM');
    await new Promise((r) => (server.exitCode !== null ? r(null) : server.once('exit', r)));
    const stats = (status.disks as Array<{ writes: number; flushes: number }>)[0]!;
    expect(stats.writes).toBeGreaterThan(100);
    expect(stats.flushes).toBeGreaterThan(0);

    const journal = MachineJournal.open({ dir: jdir });
    expect(journal.recovery).toBe('clean');
    // App-consistent point: clean filesystem, files intact.
    const appReplica = join(dir, 'replica-app.img');
    copyFileSync(join(dir, 'initial.img'), appReplica);
    expect(
      replayJournal(journal, 'disk0', appReplica, { untilBookmarkId: 'app-1' }).bookmark?.id,
    ).toBe('app-1');
    const fsck = await run('e2fsck', ['-fn', appReplica], { allowFail: true });
    expect(fsck.code, fsck.stdout).toBe(0);
    for (const [name, data] of [...files].slice(0, 10)) {
      const out = join(dir, 'dump.bin');
      await run('debugfs', ['-R', `dump ${name} ${out}`, appReplica]);
      expect(readFileSync(out).equals(data), name).toBe(true);
    }

    // Crash-consistent points: what a power cut at that instant would leave. ext4 recovers
    // from its journal (e2fsck -fy replays it) and then checks clean.
    for (const id of crashCuts) {
      const replica = join(dir, `replica-${id}.img`);
      copyFileSync(join(dir, 'initial.img'), replica);
      expect(replayJournal(journal, 'disk0', replica, { untilBookmarkId: id }).bookmark?.id).toBe(
        id,
      );
      const fix = await run('e2fsck', ['-fy', replica], { allowFail: true });
      expect(fix.code, `${id}: ${fix.stdout}`).toBeLessThanOrEqual(1); // 0 clean, 1 journal replayed
      const check = await run('e2fsck', ['-fn', replica], { allowFail: true });
      expect(check.code, `${id}: ${check.stdout}`).toBe(0);
    }

    // The whole journal gives the disk as the server left it.
    const last = join(dir, 'replica-last.img');
    copyFileSync(join(dir, 'initial.img'), last);
    replayJournal(journal, 'disk0', last);
    expect(readFileSync(last).equals(readFileSync(disk))).toBe(true);
    await journal.close();
  }, 180_000);
});
