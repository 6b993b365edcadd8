import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useSharedLocalStack } from '../support/useLocalStack';
import { incidents } from './support/admin';
import { bookmarkOf, captureRun, publish, waitForPoint } from './support/delivery';
import { changeFiles, makeImage, sha256File } from './support/images';
import { protectedMachine, restore, runOnce } from './support/machine';
import { leaseReplicaAndDie } from './support/storage';

const LEASE_SECONDS = 15;

/**
 * A hydrator that dies mid-drain leaves the replica leased until the lease runs out. The
 * batches staged meanwhile find it "busy"; once the lease is gone they must still be applied
 * (architecture §6.2: no acknowledged write is lost, here: no acknowledged batch is left unapplied).
 */
describe('hydrator crash while holding the replica lease', { timeout: 600_000 }, () => {
  const env = useSharedLocalStack('haven-e2e-lease-');

  it('batches staged while a dead hydrator holds the lease are applied once it expires', async () => {
    const { dir, stack } = env;
    const image = path.join(dir, 'disk.img');
    makeImage(image, 16);
    const m = await protectedMachine(stack, dir, image);
    await runOnce(m);
    changeFiles(m.image, 'leased', 3);
    const want = sha256File(m.image);
    const batches = await captureRun(m, path.join(dir, 'capture'));

    await leaseReplicaAndDie(stack, m, LEASE_SECONDS);
    await publish(
      m,
      batches.map((b) => b.envelope),
    );
    const p = await waitForPoint(m, bookmarkOf(batches), (LEASE_SECONDS + 90) * 1000);
    const to = path.join(dir, 'restored.img');
    await restore(m, p.id, to);
    expect(sha256File(to)).toBe(want);
    const inc = await incidents(stack, m.machineId);
    expect(inc.alerts).toEqual([]);
    expect(inc.rejections).toEqual([]);
  });
});
