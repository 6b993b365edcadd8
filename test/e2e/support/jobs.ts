import { expect } from 'vitest';
import { adminApi, type AdminTarget } from '../../support/adminApi';
import { waitFor } from '../../support/waitFor';
import { incidents } from './admin';
import { runOnce, type Machine, type Point } from './machine';

const ENDED = ['succeeded', 'partially-succeeded', 'failed', 'cancelled'];

/** The job once it has ended (whatever the outcome: the caller checks it). */
export const endedJob = (stack: AdminTarget, id: string) =>
  waitFor(
    `job ${id}`,
    async () => {
      const j = await adminApi(stack, 'GET', `jobs/${id}`);
      return ENDED.includes(j.state) ? j : undefined;
    },
    { timeoutMs: 600_000, intervalMs: 500 },
  );

/** What a recovered server serves at `path` (its public IP, port 80); it must answer 200. */
export async function served(ip: string, path: string): Promise<string> {
  const r = await fetch(`http://${ip}${path}`, { signal: AbortSignal.timeout(5000) });
  expect(r.status).toBe(200);
  return r.text();
}

/** Starts a recovery operation through the API and waits until its job succeeded. */
export async function succeededOp(stack: AdminTarget, machineId: string, op: string) {
  const started = await adminApi(stack, 'POST', `machines/${machineId}/${op}`, {});
  const done = await endedJob(stack, started.id);
  expect(done.state, `${op}: ${JSON.stringify(done.error ?? done.result)}`).toBe('succeeded');
  return done;
}

/** The protected item's state (GET machines/{id}). */
export const protectionState = async (stack: AdminTarget, machineId: string): Promise<string> =>
  (await adminApi<{ protection: { state: string } }>(stack, 'GET', `machines/${machineId}`))
    .protection.state;

/** Writes a file inside a recovered server (its HTTP service's /write/NAME). */
export async function writeOnServer(ip: string, name: string, body: string): Promise<void> {
  const r = await fetch(`http://${ip}/write/${name}`, { method: 'POST', body });
  expect(r.status).toBe(200);
}

/**
 * Re-enable after failback, its first point: waits until job `reenableJob` switched the disks
 * to their seeded generation, runs the agent once (it sends what the site wrote since
 * failback), and returns that point, the finished job (which must have succeeded) and the
 * bytes the cloud applied for the machine's first disk in the new generation.
 */
export async function firstPointAfterReenable(
  stack: AdminTarget,
  m: Machine,
  reenableJob: string,
): Promise<{ point: Point; job: Job; bytesApplied: number; bytesSentToFirstPoint: number }> {
  await waitFor(
    'the disks switched to their seeded generation',
    async () => {
      const j = await adminApi<Job>(stack, 'GET', `jobs/${reenableJob}`);
      return j.steps.some((x) => x.name === 'switch-generation' && x.state === 'succeeded')
        ? true
        : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 500 },
  );
  const point = await runOnce(m);
  const job = (await endedJob(stack, reenableJob)) as Job;
  expect(job.state, JSON.stringify(job.error ?? job.result)).toBe('succeeded');
  expect(await protectionState(stack, m.machineId)).toBe('protected');
  const disk = (job.result.disks as { generation: number; bytesSentToFirstPoint: number }[])[0]!;
  const doc = (await incidents(stack, m.machineId)).disks.find(
    (x) => x.diskId === m.diskId && x.generation === disk.generation,
  )!;
  return {
    point,
    job,
    bytesApplied: doc.bytesApplied,
    bytesSentToFirstPoint: disk.bytesSentToFirstPoint,
  };
}

interface Job {
  state: string;
  steps: { name: string; state: string }[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  result: any;
  error?: unknown;
}
