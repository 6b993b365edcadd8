import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeControlPlane } from '../support/fakeControlPlane';
import { replayDisk } from '../support/replay';
import { enrollWithDisk } from '../../support/machines';
import { startAgent } from '../../support/procs';
import { firstOf, waitFor } from '../../support/waitFor';
import { control, tempDir, unixUri } from './helpers';
import { QemuIo } from './qemuIo';
import { applyOp, isChange, makeWorkload, prng, qemuIoCommand } from './workload';

const SIZE = 8 * 1024 * 1024;

/**
 * The whole agent side in continuous mode: `haven-agent serve-disk` (CLI) with an enrolled
 * state dir runs NBD server → splitter → journal → JournalChangeSource → batcher → spool →
 * sender (capture sink). What a hydrator rebuilds from the captured batches, up to each
 * bookmark, must be the disk after exactly the writes acknowledged before that bookmark.
 */
describe('serve-disk with the agent pipeline (journal source → batches)', () => {
  let dir: string;
  let cp: FakeControlPlane;
  beforeAll(async () => {
    dir = tempDir('haven-nbd-agent-');
    cp = await new FakeControlPlane(join(dir, 'capture')).start();
  });
  afterAll(async () => {
    await cp.stop();
  });

  it('captured batches replayed to each bookmark equal the disk after the writes acknowledged before it', async () => {
    const image = join(dir, 'disk.img');
    const initial = randomBytes(SIZE);
    initial.fill(0, SIZE / 2); // half zero: sent as zero ranges by the initial sync
    writeFileSync(image, initial);
    copyFileSync(image, join(dir, 'initial.img'));
    const stateDir = join(dir, 'state');
    const { diskId } = await enrollWithDisk({ api: cp.url, token: cp.token, stateDir, image });

    const sock = join(dir, 'nbd.sock');
    const ctl = join(dir, 'control.sock');
    const capture = join(dir, 'capture');
    const run = startAgent([
      'serve-disk',
      image,
      '--socket',
      sock,
      '--control',
      ctl,
      '--capture',
      capture,
      '--interval',
      '1',
      '--state-dir',
      stateDir,
    ]);
    await run.waitForOutput('ready', { stream: 'stdout' });

    const hasBookmark = async (id: string) =>
      (await replayDisk(capture, diskId, SIZE, cp.dataKey, id)).bookmarks.some((b) => b.id === id);
    const captured = (id: string, signal?: AbortSignal) =>
      waitFor(`bookmark ${id} captured`, () => hasBookmark(id), { intervalMs: 200, signal });
    // Bookmarks cut while the initial sync is still reading the disk are dropped (the replica
    // is not yet a state the disk had), and the agent says so; wait for the first that makes
    // it. Every cut ends one way or the other: none may vanish unreported.
    let warm = '';
    const dropped: string[] = [];
    for (let i = 0; i < 50 && !warm; i++) {
      const id = `warm-${i}`;
      await control(ctl, { op: 'bookmark', id });
      const made = await firstOf(
        (signal) => captured(id, signal),
        (signal) =>
          run
            .waitForOutput(`bookmark ${id} dropped: it falls inside a resync`, { signal })
            .then(() => false),
      );
      if (made) warm = id;
      else dropped.push(id);
    }
    expect(warm, `dropped: ${dropped.join(',')}`).not.toBe('');
    // Only cuts made during the one initial scan (8 MiB) are dropped: a handful at most.
    expect(dropped.length, dropped.join(',')).toBeLessThanOrEqual(5);
    const atWarm = await replayDisk(capture, diskId, SIZE, cp.dataKey, warm);
    expect(atWarm.image.equals(initial)).toBe(true);

    const ops = makeWorkload(31, 250, SIZE, dir);
    const cuts: Array<{ id: string; k: number }> = [];
    const q = new QemuIo(unixUri(sock));
    await q.ready();
    const rnd = prng(5);
    let n = 0;
    for (const op of ops) {
      const out = await q.cmd(qemuIoCommand(op));
      expect(out).not.toMatch(/error|fail/i);
      if (rnd() < 0.05) {
        const id = `cut-${n++}`;
        const r = await control(ctl, { op: 'bookmark', id });
        cuts.push({ id, k: (r.changes as number[])[0]! });
      }
    }
    await q.quit();
    const r = await control(ctl, { op: 'bookmark', id: 'final' });
    cuts.push({ id: 'final', k: (r.changes as number[])[0]! });
    await captured('final');
    run.child.kill('SIGTERM');
    const done = await run.done;
    expect(done.code, done.stderr).toBe(0);

    expect(cuts.length).toBeGreaterThan(3);
    const changes = ops.filter(isChange);
    expect(cuts.at(-1)!.k).toBe(changes.length);
    for (const cut of cuts) {
      const model = Buffer.from(initial);
      for (const op of changes.slice(0, cut.k)) applyOp(model, op);
      const rep = await replayDisk(capture, diskId, SIZE, cp.dataKey, cut.id);
      expect(rep.conflicts).toEqual([]);
      expect(rep.bookmarks.at(-1)?.id).toBe(cut.id);
      expect(rep.image.equals(model), `at ${cut.id} (${cut.k} changes)`).toBe(true);
    }
    expect(
      readFileSync(image).equals(
        (await replayDisk(capture, diskId, SIZE, cp.dataKey, 'final')).image,
      ),
    ).toBe(true);
  }, 180_000);
});
