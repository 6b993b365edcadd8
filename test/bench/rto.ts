import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { preparePlatform } from '../../local/vm/platform';
import { QemuVmRunner } from '../../local/vm/qemuRunner';
import { adminApi, type AdminTarget } from '../support/adminApi';
import { waitFor } from '../support/waitFor';
import { bootableMachine } from './bootableMachine';
import { withLocalStack } from './benchStack';
import type { BenchRow } from './row';

/**
 * RTO of one machine on the real local stack (issue 12): `POST …/failover` → the recovered
 * server answers its health probe at its public IP, through Functions, the durable sagas, the
 * local ARM endpoint (disk import from the replica's snapshot, network, VM) and a QEMU guest
 * booting the disk. Baselines measured in the same run: the VM runner booting the same image
 * directly to the same probe (the floor any recovery pays here), and a plain sparse copy of the
 * image (what the disk import stands for). Test failover + cleanup is timed too.
 */
const MiB = 1024 * 1024;
const since = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e9;

interface Job {
  id: string;
  state: string;
  error?: unknown;
  result?: { vm?: { publicIp?: string }; timings?: Record<string, number> };
}

async function ended(stack: AdminTarget, id: string): Promise<Job> {
  return waitFor(
    `job ${id}`,
    async () => {
      const j = await adminApi<Job>(stack, 'GET', `jobs/${id}`);
      return ['succeeded', 'failed', 'cancelled'].includes(j.state) ? j : undefined;
    },
    { timeoutMs: 15 * 60_000, intervalMs: 100 },
  );
}

async function healthy(ip: string): Promise<true | undefined> {
  try {
    const r = await fetch(`http://${ip}/health`, { signal: AbortSignal.timeout(2000) });
    return r.status === 200 ? true : undefined;
  } catch {
    return undefined;
  }
}

/** Starts `op`, waits for its job and the probe; seconds and the job's step timings. */
async function timedOp(stack: AdminTarget, machineId: string, op: string, probe: boolean) {
  const t0 = process.hrtime.bigint();
  const started = await adminApi<Job>(stack, 'POST', `machines/${machineId}/${op}`, {});
  const j = await ended(stack, started.id);
  if (j.state !== 'succeeded') throw new Error(`${op}: ${j.state} ${JSON.stringify(j.error)}`);
  const ip = j.result?.vm?.publicIp;
  if (probe) {
    if (!ip) throw new Error(`${op}: no public IP in the job`);
    await waitFor(`${ip} /health`, () => healthy(ip), { timeoutMs: 600_000, intervalMs: 50 });
  }
  return { seconds: since(t0), timings: j.result?.timings ?? {} };
}

const steps = (t: Record<string, number>) =>
  Object.entries(t)
    .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`)
    .join(', ');

async function rtoFor(sizeMiB: number): Promise<BenchRow[]> {
  return withLocalStack('rto-bench-', async (stack, work) => {
    // A quarter of the disk is file data (what the import copies); the rest is free space.
    const data = Math.min(sizeMiB / 4, 128);
    const image = join(work, 'm', 'server.img');
    const machineId = await bootableMachine(stack, join(work, 'm'), {
      sizeBytes: sizeMiB * MiB,
      hostname: 'rto',
      files: { 'data.bin': 'r'.repeat(data * MiB) },
    });
    await waitFor('protected', async () =>
      (await adminApi<{ state: string }>(stack, 'GET', `machines/${machineId}/failover`)).state ===
      'protected'
        ? true
        : undefined,
    );

    const test = await timedOp(stack, machineId, 'test-failover', true);
    const cleanup = await timedOp(stack, machineId, 'test-failover-cleanup', false);
    const failover = await timedOp(stack, machineId, 'failover', true);
    await timedOp(stack, machineId, 'cancel-failover', false);

    // Baselines: the same image booted by the runner directly; a sparse copy of it.
    const runner = new QemuVmRunner({ stateDir: join(work, 'runner') });
    const ip = `127.98.${process.pid % 200}.${(sizeMiB % 200) + 20}`;
    const t0 = process.hrtime.bigint();
    await runner.start({
      id: 'rto-direct',
      name: 'rto-direct',
      memoryMiB: 0,
      cpus: 1,
      disks: [image],
      nics: [
        {
          mac: '52:54:00:be:0c:02',
          subnet: '10.98.0.0/24',
          privateIp: '10.98.0.4',
          publicIp: ip,
          tcpPorts: [80],
        },
      ],
      serialLogPath: join(work, 'direct-serial.log'),
    });
    try {
      await waitFor(`${ip} /health`, () => healthy(ip), { timeoutMs: 600_000, intervalMs: 50 });
    } finally {
      await runner.stopAll();
    }
    const boot = since(t0);
    const t1 = process.hrtime.bigint();
    execFileSync('cp', ['--sparse=always', image, join(work, 'copy.img')]);
    const copy = since(t1);

    const label = `${sizeMiB >= 1024 ? `${sizeMiB / 1024} GiB` : `${sizeMiB} MiB`}`;
    return [
      {
        name: `RTO: failover API call → health probe OK, ${label} disk (local ARM + QEMU)`,
        value: failover.seconds,
        unit: 's',
        baselineName: 'the runner booting the same image to the probe',
        baselineValue: boot,
        ratio: failover.seconds / boot,
        note: `target ≤ 30 s for 256 MiB; sparse copy of the image ${copy.toFixed(2)} s; job steps (s): ${steps(failover.timings)}; lower is better`,
      },
      {
        name: `test failover → probe OK, then cleanup, ${label} disk (local ARM + QEMU)`,
        value: test.seconds + cleanup.seconds,
        unit: 's',
        baselineName: 'the runner booting the same image to the probe',
        baselineValue: boot,
        ratio: (test.seconds + cleanup.seconds) / boot,
        note: `test ${test.seconds.toFixed(1)} s (${steps(test.timings)}) + cleanup ${cleanup.seconds.toFixed(1)} s; lower is better`,
      },
    ];
  });
}

export async function run({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  await preparePlatform();
  const rows = await rtoFor(256);
  if (!quick) rows.push(...(await rtoFor(2048)));
  return rows;
}
