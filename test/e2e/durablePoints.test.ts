import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminApi } from '../support/adminApi';
import { startStack, type StackProc } from '../support/localStack';
import { waitFor } from '../support/waitFor';
import { incidents } from './support/admin';
import { changeFiles, fsckClean, makeImage, sha256File } from './support/images';
import { protectedMachine, restore, runOnce, type Machine } from './support/machine';
import { breakReplicaLease, leaseReplicaAndDie } from './support/storage';

interface ApiPoint {
  id: string;
  durable: boolean;
  materialized: boolean;
  disks: { diskId: string; sha256?: string }[];
}

async function pointOf(stack: StackProc, m: Machine, id: string): Promise<ApiPoint> {
  return adminApi<ApiPoint>(stack, 'GET', `machines/${m.machineId}/recovery-points/${id}`);
}

/** `probe` until it answers (a read that fails meanwhile counts as no answer yet). */
const until = (what: string, probe: () => Promise<true | undefined>) =>
  waitFor(what, () => probe().catch(() => undefined), { timeoutMs: 120_000, intervalMs: 200 });

/**
 * Design §2: a point is durable once its batches are stored in Azure, before hydration. The
 * host dies between the two (the replica held by a hydrator that died with it): after the
 * restart the point is still listed as durable, and using it drives its hydration to the exact
 * bytes of the source at the bookmark.
 */
describe(
  'a durable point survives the host dying before it is materialized',
  { timeout: 600_000 },
  () => {
    let dir: string;
    let stack: StackProc;
    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'haven-e2e-durable-'));
      stack = await startStack(path.join(dir, 'stack'));
    }, 300_000);
    afterAll(async () => {
      await stack?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('kill -9 of the host between durable and materialized: the point materializes exact', async () => {
      const image = path.join(dir, 'disk.img');
      makeImage(image, 16);
      const m = await protectedMachine(stack, dir, image);
      const first = await runOnce(m);
      // Azure stored every batch up to the point: the run let go of the spool's copies (the
      // next run does not read them back).
      expect(
        readdirSync(path.join(m.stateDir, 'spool')).filter((f) => f.startsWith('seg-')),
      ).toEqual([]);
      await until('the first point to be materialized', async () =>
        (await pointOf(stack, m, first.id)).materialized ? true : undefined,
      );

      // A hydrator takes the replica and dies with the host: nothing can hydrate meanwhile.
      // (once the first drain has let go of it: it releases the lease after materializing)
      await until('the replica lease', () => leaseReplicaAndDie(stack, m, -1).then(() => true));
      changeFiles(m.image, 'durable', 3);
      const want = sha256File(m.image);
      const p = await runOnce(m);
      const seen = await pointOf(stack, m, p.id);
      expect(seen).toMatchObject({ id: p.id, durable: true, materialized: false });
      // No wait before the kill: the emulator logs a write before acknowledging it, as a
      // Cosmos write is durable when acknowledged.
      await stack.kill9('host');
      stack = await startStack(stack.stateDir, stack.port);
      expect(await pointOf(stack, m, p.id)).toMatchObject({ durable: true, materialized: false });

      // The dead hydrator's lease runs out (broken here rather than waited for); restoring the
      // point drives its hydration.
      await breakReplicaLease(stack, m);
      const to = path.join(dir, 'restored.img');
      // The read URL drives the hydration and carries the digest: the restore is verified.
      expect((await restore(m, p.id, to)).verified).toBe(true);
      expect(sha256File(to)).toBe(want);
      expect(fsckClean(to)).toBe(true);
      const after = await pointOf(stack, m, p.id);
      expect(after.materialized).toBe(true);
      expect(after.disks[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
      const inc = await incidents(stack, m.machineId);
      expect(inc.alerts).toEqual([]);
      expect(inc.rejections).toEqual([]);
    });
  },
);
