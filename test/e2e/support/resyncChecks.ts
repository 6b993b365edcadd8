import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { adminApi, type AdminTarget } from '../../support/adminApi';
import { waitFor } from '../../support/waitFor';
import { fsckClean, sha256File } from './images';
import { restore, type Machine, type Point } from './machine';

/** Restores `p` to a new image: exact bytes (sha256 and the point's own digest), clean ext4. */
export async function expectRestores(
  m: Machine,
  p: Point,
  sha: string,
  fsck = true,
): Promise<void> {
  const to = path.join(path.dirname(m.image), `restore-${p.id}.img`);
  const r = await restore(m, p.id, to);
  expect(r.verified).toBe(true);
  expect(sha256File(to)).toBe(sha);
  if (fsck) expect(fsckClean(to)).toBe(true);
  rmSync(to);
}

/** The item is protected again and the resync job succeeded (the new generation's first point). */
export async function expectResynced(stack: AdminTarget, m: Machine, jobId: string): Promise<void> {
  await waitFor(
    `resync job ${jobId} succeeded`,
    async () => {
      const job = await adminApi<{ state: string }>(stack, 'GET', `jobs/${jobId}`);
      expect(job.state).not.toBe('failed');
      return job.state === 'succeeded';
    },
    { timeoutMs: 150_000, intervalMs: 250 },
  );
  const view = await adminApi<{
    protection: { state: string };
    disks: { id: string; generation: number; resync?: { completedAt?: string } }[];
  }>(stack, 'GET', `machines/${m.machineId}`);
  expect(view.protection.state).toBe('protected');
  expect(view.disks.find((d) => d.id === m.diskId)?.resync?.completedAt).toBeDefined();
}

export const generationOf = (p: Point & { disks?: { generation?: number }[] }) =>
  p.disks?.[0]?.generation;
