import { createHash } from 'node:crypto';
import { DIGEST_BLOCK } from '../core/disk/digest';
import { HavenError, integrity } from '../core/errors';
import type { PlanDisk as FailbackPlanDisk } from '../core/failback/failbackRecord';
import type { ControlPlaneClient } from './controlPlaneClient';
import { sleep } from './fsUtil';

/** The control plane's failback plan of one disk: its session, point and reverse batches. */
export async function fetchFailbackPlan(
  api: ControlPlaneClient,
  machineId: string,
  diskId: string,
): Promise<FailbackPlanDisk> {
  const res = await api.request<{ disks: FailbackPlanDisk[] }>(
    'GET',
    `machines/${machineId}/agent/failback`,
  );
  const d = res.body.disks.find((x) => x.diskId === diskId);
  if (!d) throw new HavenError('not-found', `No failback lists disk '${diskId}'.`);
  return d;
}

/** One envelope, checked against the sha256 the plan lists (a swapped blob never opens). */
export async function fetchReverseBatch(
  f: typeof fetch,
  b: FailbackPlanDisk['batches'][number],
): Promise<Buffer> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await f(b.url, { headers: { 'x-ms-version': '2021-08-06' } });
      if (res.status !== 200)
        throw new HavenError(
          res.status >= 500 ? 'transient' : 'integrity',
          `Reverse batch #${b.seq}: HTTP ${res.status}.`,
        );
      const buf = Buffer.from(await res.arrayBuffer());
      if (createHash('sha256').update(buf).digest('hex') !== b.sha256)
        throw integrity(
          `Reverse batch #${b.seq} is not the batch the control plane listed (sha256).`,
        );
      return buf;
    } catch (e) {
      if (attempt >= 4 || (e instanceof HavenError && !e.retryable)) throw e;
      await sleep(300 * 2 ** attempt);
    }
  }
}

/** The 64 KiB blocks (merged into ranges) where the site disk differs from the Azure disk. */
export async function fetchDifferingBlocks(
  f: typeof fetch,
  plan: FailbackPlanDisk,
  mine: Buffer[],
): Promise<{ offset: number; length: number }[]> {
  const res = await f(plan.digestsUrl!, { headers: { 'x-ms-version': '2021-08-06' } });
  if (res.status !== 200)
    throw new HavenError('transient', `Block digests of ${plan.diskId}: HTTP ${res.status}.`);
  const theirs = Buffer.from(await res.arrayBuffer());
  if (theirs.length !== mine.length * 32)
    throw integrity(`Block digests of ${plan.diskId} do not describe a disk of its size.`);
  const out: { offset: number; length: number }[] = [];
  for (let b = 0; b < mine.length; b++) {
    if (mine[b]!.equals(theirs.subarray(b * 32, b * 32 + 32))) continue;
    const offset = b * DIGEST_BLOCK;
    const length = Math.min(DIGEST_BLOCK, plan.sizeBytes - offset);
    const last = out[out.length - 1];
    if (last && last.offset + last.length === offset) last.length += length;
    else out.push({ offset, length });
  }
  return out;
}
