import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useSharedLocalStack } from '../support/useLocalStack';
import { incidents } from './support/admin';
import { changeFiles, fsckClean, keepCopy, makeImage, sha256File } from './support/images';
import { protectedMachine, restore, runOnce, type Machine } from './support/machine';

const SIZE_MIB = 32;

/** Design §6.1: a recovery point restores to the source's exact bytes at its bookmark. */
describe(
  'replication end to end (stack and agent as processes, real ext4)',
  { timeout: 900_000 },
  () => {
    const env = useSharedLocalStack('haven-e2e-repl-');
    let m: Machine;

    beforeAll(async () => {
      const image = path.join(env.dir, 'server.img');
      makeImage(image, SIZE_MIB);
      m = await protectedMachine(env.stack, env.dir, image);
    }, 300_000);

    it('two points restore to their own exact bytes; a restore onto an older copy writes only the difference', async () => {
      const p1 = await runOnce(m);
      const src1 = keepCopy(m.image, path.join(env.dir, 'source-p1.img'));

      const r1 = path.join(env.dir, 'restored-p1.img');
      const got1 = await restore(m, p1.id, r1);
      expect(got1.verified).toBe(true);
      expect(sha256File(r1)).toBe(src1);
      expect(fsckClean(r1)).toBe(true);

      changeFiles(m.image, 'p2', 4);
      const p2 = await runOnce(m);
      const src2 = keepCopy(m.image, path.join(env.dir, 'source-p2.img'));
      expect(src2).not.toBe(src1);

      const r2 = path.join(env.dir, 'restored-p2.img');
      await restore(m, p2.id, r2);
      expect(sha256File(r2)).toBe(src2);
      expect(fsckClean(r2)).toBe(true);

      // Point 1 again, to its own bytes (the replica moved on; its snapshot did not).
      rmSync(r1);
      await restore(m, p1.id, r1);
      expect(sha256File(r1)).toBe(src1);

      // Failback onto a disk that holds point 1: only the blocks that differ are written.
      const onto = await restore(m, p2.id, r1);
      expect(sha256File(r1)).toBe(src2);
      expect(onto.bytesWritten).toBeGreaterThan(0);
      expect(onto.bytesWritten).toBeLessThan(onto.sizeBytes / 4);

      const inc = await incidents(env.stack, m.machineId);
      expect(inc.rejections).toEqual([]);
      expect(inc.alerts).toEqual([]);
    });
  },
);
