import { readFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { randomInt } from 'node:crypto';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { debugfsRm, debugfsWrite, makeExt4Image } from '../../local/images/ext4';
import { iterations } from '../support/soak';
import { waitFor } from '../support/waitFor';
import { mixedData } from './support/testData';
import { useFakeControlPlane } from './support/useFakeControlPlane';
import { listCaptured, replayDisk } from './support/replay';
import { agent, enrollWithDisk, onceToCapture, startAgent } from './support/runAgent';

/**
 * Runs that must die by SIGKILL mid-flight (the loop restarts the agent after each); the default
 * run needs a few to prove the point, HAVEN_SOAK=1 runs many more.
 */
const KILLS = iterations(6, 20);
const SIZE_MIB = 96;

describe('agent crash safety (SIGKILL at random points)', { timeout: 180_000 }, () => {
  const env = useFakeControlPlane('agent-crash', { pointLag: 0 });

  it(
    'loses nothing and never gives one seq two contents across kill/restart cycles',
    async () => {
      const { dir, cp, capture } = env;
      const image = path.join(dir, 'disk.img');
      const st = ['--state-dir', path.join(dir, 'state')];
      makeExt4Image(image, SIZE_MIB * 2 ** 20, { fill: 0 });
      debugfsWrite(image, 'seed.bin', mixedData(8 * 2 ** 20));
      const diskId = await enrollWithDisk(cp, image, st);
      let killed = 0;
      let iterations = 0;
      // Kill at a random point within how long a run takes after its start (its pid lock),
      // learned from the runs that finished: machine load or a faster agent must not turn
      // the kills into no-ops. Loop until KILLS runs really died mid-flight.
      let runMs = 1500;
      const files: string[] = [];
      for (let i = 0; killed < KILLS && i < KILLS * 4; i++) {
        iterations++;
        // Change the disk only while the agent is down, so the final image is well defined.
        if (i % 3 === 0) {
          const name = `f${i}.bin`;
          debugfsWrite(image, name, mixedData(randomInt(64 * 1024, 3 * 2 ** 20)));
          files.push(name);
        } else if (i % 5 === 0 && files.length > 1) {
          debugfsRm(image, files.shift()!);
        }
        const run = startAgent(['run', '--once', '--capture', capture, ...st]);
        let exited = false;
        void run.done.then(() => (exited = true));
        // Most kills after the agent started working; some during its startup.
        if (randomInt(0, 6) > 0) {
          const lock = path.join(dir, 'state', 'agent.pid');
          await waitFor(
            `agent ${run.child.pid} holds its state dir`,
            async () =>
              exited ||
              (await fsp.readFile(lock, 'utf8').catch(() => '')).trim() === String(run.child.pid),
            { intervalMs: 5 },
          );
        }
        const started = Date.now();
        const timer = setTimeout(
          () => run.child.kill('SIGKILL'),
          randomInt(0, Math.max(50, Math.round(runMs * 0.9))),
        );
        const r = await run.done;
        clearTimeout(timer);
        if (r.signal === 'SIGKILL') killed++;
        else {
          expect(r.code, r.stderr).toBe(0);
          runMs = (runMs + (Date.now() - started)) / 2;
        }
      }
      expect(killed).toBeGreaterThanOrEqual(KILLS);
      expect(iterations).toBeGreaterThanOrEqual(KILLS);
      const final = await agent(onceToCapture(capture, st));
      expect(final.code, final.stderr).toBe(0);
      const pointId = (JSON.parse(final.stdout) as { recoveryPoint: { id: string } }).recoveryPoint
        .id;

      const captured = listCaptured(capture);
      const shaBySeq = new Map<number, Set<string>>();
      for (const c of captured) {
        if (!shaBySeq.has(c.seq)) shaBySeq.set(c.seq, new Set());
        shaBySeq.get(c.seq)!.add(c.sha);
      }
      const twoContents = [...shaBySeq.entries()].filter(([, s]) => s.size > 1).map(([seq]) => seq);
      expect(twoContents).toEqual([]);
      const rep = await replayDisk(capture, diskId, SIZE_MIB * 2 ** 20, cp.dataKey, pointId);
      expect(rep.conflicts).toEqual([]);
      // Dense: every seq up to the bookmark arrived.
      expect(rep.bookmarks.at(-1)?.id).toBe(pointId);
      expect(Math.max(...shaBySeq.keys())).toBe(rep.lastSeq);
      expect(rep.image.equals(readFileSync(image))).toBe(true);
    },
    10 * 60_000,
  );
});
