import { readFileSync, writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { peekHeader } from '../../core/batch';
import { debugfsWrite, makeExt4Image } from '../../local/images/ext4';
import { mixedData } from './support/testData';
import { useFakeControlPlane } from './support/useFakeControlPlane';
import { listCaptured, replayDisk } from './support/replay';
import { agent, enrollWithDisk, startAgent } from './support/runAgent';
import { waitFor } from '../support/waitFor';

describe(
  'continuous run, app-consistent bookmark with hooks, status while running',
  { timeout: 300_000 },
  () => {
    const env = useFakeControlPlane('agent-bm');

    it('cuts the bookmark between the freeze and thaw hooks and replicates up to it', async () => {
      const { dir, cp, capture } = env;
      const image = path.join(dir, 'disk.img');
      const stateDir = path.join(dir, 'state');
      const st = ['--state-dir', stateDir];
      const hookLog = path.join(dir, 'hooks.log');
      makeExt4Image(image, 32 * 2 ** 20, { fill: 0 });
      debugfsWrite(image, 'a.bin', mixedData(2 * 2 ** 20));
      const diskId = await enrollWithDisk(cp, image, st);
      writeFileSync(
        path.join(stateDir, 'settings.json'),
        JSON.stringify({
          hooks: { preFreeze: `echo freeze >> ${hookLog}`, postThaw: `echo thaw >> ${hookLog}` },
        }),
      );
      const run = startAgent(['run', '--interval', '1', '--capture', capture, ...st]);
      try {
        // Wait for the first crash bookmark of the continuous run.
        await waitFor(
          'the first acknowledged crash bookmark',
          async () => {
            if (run.exited()) throw new Error(`the agent exited: ${run.out.stderr}`);
            const s = JSON.parse(
              await fsp.readFile(path.join(stateDir, 'status.json'), 'utf8').catch(() => '{}'),
            ) as { lastBookmark?: { ackedAt?: string } };
            return s.lastBookmark?.ackedAt;
          },
          { timeoutMs: 120_000, intervalMs: 200 },
        );
        const status = await agent(['status', '--json', ...st]);
        expect(JSON.parse(status.stdout)).toMatchObject({ running: true, disks: [{ id: diskId }] });
        expect(
          (JSON.parse(status.stdout) as { rpoSeconds?: number }).rpoSeconds,
        ).toBeGreaterThanOrEqual(0);

        debugfsWrite(image, 'b.bin', mixedData(300 * 1024)); // a change before the cut
        const bm = await agent(['bookmark', '--app', '--tag', 'nightly', '--json', ...st]);
        expect(bm.code, bm.stderr).toBe(0);
        const { bookmarkId } = JSON.parse(bm.stdout) as { bookmarkId: string };
        expect(bookmarkId).toMatch(/^bm-nightly-/);
        expect(readFileSync(hookLog, 'utf8')).toBe('freeze\nthaw\n');

        // The bookmark is spooled; the sender delivers it shortly after.
        const withBookmark = () =>
          listCaptured(capture).find(
            (c) => peekHeader(readFileSync(c.file)).bookmark?.id === bookmarkId,
          );
        const found = await waitFor(`bookmark ${bookmarkId} captured`, withBookmark, {
          intervalMs: 100,
        });
        expect(peekHeader(readFileSync(found!.file)).bookmark?.consistency).toBe('app');
        const rep = await replayDisk(capture, diskId, 32 * 2 ** 20, cp.dataKey, bookmarkId);
        expect(rep.image.equals(readFileSync(image))).toBe(true);
      } finally {
        run.child.kill('SIGTERM');
      }
      const r = await run.done;
      expect(r.code, r.stderr).toBe(0);
      const after = await agent(['status', '--json', ...st]);
      expect(JSON.parse(after.stdout)).toMatchObject({ running: false });
    });
  },
);
