import { readFileSync, writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeControlPlane } from './support/fakeControlPlane';
import { debugfsWrite, makeExt4, mixedData, tempDir } from './support/images';
import { replayDisk } from './support/replay';
import { startAgent, agent } from './support/runAgent';

describe(
  'spool bound: a full spool falls back to re-scan instead of growing',
  { timeout: 300_000 },
  () => {
    let dir: string;
    let cp: FakeControlPlane;

    beforeAll(async () => {
      dir = await tempDir('agent-full');
      cp = await new FakeControlPlane(path.join(dir, 'capture')).start();
      cp.pointLag = 0;
    }, 180_000);
    afterAll(async () => {
      await cp.stop();
      await fsp.rm(dir, { recursive: true, force: true });
    });

    it('stays under its bound while the sender is blocked, then still delivers the exact image', async () => {
      const image = path.join(dir, 'disk.img');
      const capture = path.join(dir, 'capture');
      const stateDir = path.join(dir, 'state');
      const st = ['--state-dir', stateDir];
      makeExt4(image, 64);
      debugfsWrite(image, 'big.bin', mixedData(24 * 2 ** 20));
      expect((await agent(['enroll', '--api', cp.url, '--token', cp.token, ...st])).code).toBe(0);
      const added = await agent(['disk', 'add', image, '--json', ...st]);
      const diskId = (JSON.parse(added.stdout) as { id: string }).id;
      const bound = 8 * 2 ** 20;
      writeFileSync(
        path.join(stateDir, 'settings.json'),
        JSON.stringify({ spoolMaxBytes: bound, spoolFullWaitMs: 200 }),
      );
      // The "service" is down: the capture path is a file, so every send fails.
      writeFileSync(capture, 'not a directory');
      const run = startAgent([
        'run',
        '--once',
        '--json',
        '--timeout',
        '120',
        '--capture',
        capture,
        ...st,
      ]);
      let maxSpool = 0;
      let sawDrop = false;
      const segBytes = async () => {
        const d = path.join(stateDir, 'spool');
        let n = 0;
        for (const f of await fsp.readdir(d).catch(() => [] as string[]))
          if (f.startsWith('seg-'))
            n += (await fsp.stat(path.join(d, f)).catch(() => ({ size: 0 }))).size;
        return n;
      };
      for (let i = 0; i < 60; i++) {
        maxSpool = Math.max(maxSpool, await segBytes());
        await new Promise((r) => setTimeout(r, 100));
      }
      // Service back.
      await fsp.rm(capture);
      const r = await run.done;
      sawDrop = /send failed/.test(r.stderr);
      expect(r.code, r.stderr).toBe(0);
      expect(sawDrop).toBe(true);
      expect(maxSpool).toBeGreaterThan(0);
      expect(maxSpool).toBeLessThanOrEqual(bound);
      const out = JSON.parse(r.stdout) as {
        recoveryPoint: { id: string };
        status: { droppedBatches: number };
      };
      expect(out.status.droppedBatches).toBeGreaterThan(0);
      const pointId = out.recoveryPoint.id;
      const rep = await replayDisk(capture, diskId, 64 * 2 ** 20, cp.dataKey, pointId);
      expect(rep.conflicts).toEqual([]);
      expect(rep.image.equals(readFileSync(image))).toBe(true);
    });
  },
);
