import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { preparePlatform } from '../../local/vm/platform';
import { adminApi, type AdminTarget } from '../support/adminApi';
import { agentJson } from '../support/procs';
import { waitFor } from '../support/waitFor';
import { bootableMachine } from './bootableMachine';
import { withLocalStack } from './benchStack';
import type { BenchRow } from './row';

/**
 * The way back on the real local stack (issue 14): a server failed over and committed writes
 * `changedMiB` of fresh data inside its Azure VM (a QEMU guest); reprotect and failback ship it
 * back and the site agent applies it onto the original image. Figures: bytes on the wire per
 * byte changed in Azure (a full copy is 1/change-rate), and the time of the way back (reprotect
 * API call → failback job succeeded with the agent's receive) against a full restore of the
 * failover point onto a blank image by the same agent, measured in the same run.
 */
const MiB = 1024 * 1024;
const say = (what: string) => console.error(`bench failback: ${what}`);
const since = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e9;

/** Where a job's time went: its slowest steps, e.g. `power-off 12.1 s`. */
const slowSteps = (j: Job, n = 3) =>
  (j.steps ?? [])
    .filter((x) => x.startedAt && x.endedAt)
    .map((x) => ({ name: x.name, s: (Date.parse(x.endedAt!) - Date.parse(x.startedAt!)) / 1000 }))
    .sort((a, b) => b.s - a.s)
    .slice(0, n)
    .map((x) => `${x.name} ${x.s.toFixed(1)} s`)
    .join(', ');

interface Job {
  id: string;
  state: string;
  steps?: { name: string; startedAt?: string; endedAt?: string }[];
  error?: unknown;
  result?: {
    vm?: { publicIp?: string; pointId?: string };
    disks?: { bytesChanged: number; bytesShipped: number }[];
  };
}

async function op(stack: AdminTarget, machineId: string, name: string): Promise<Job> {
  const started = await adminApi<Job>(stack, 'POST', `machines/${machineId}/${name}`, {});
  return ended(stack, started.id);
}

async function ended(stack: AdminTarget, id: string): Promise<Job> {
  const j = await waitFor(
    `job ${id}`,
    async () => {
      const x = await adminApi<Job>(stack, 'GET', `jobs/${id}`);
      return ['succeeded', 'failed', 'cancelled'].includes(x.state) ? x : undefined;
    },
    { timeoutMs: 15 * 60_000, intervalMs: 100 },
  );
  if (j.state !== 'succeeded') throw new Error(`job ${id}: ${j.state} ${JSON.stringify(j.error)}`);
  return j;
}

/** Fresh, poorly compressible data (base64 of random bytes) written as files in the VM. */
async function writeInVm(ip: string, mib: number): Promise<void> {
  for (let i = 0; i < mib; i++) {
    const body = randomBytes(Math.ceil((MiB * 3) / 4)).toString('base64');
    const r = await fetch(`http://${ip}/write/azure-${i}.txt`, { method: 'POST', body });
    if (r.status !== 200) throw new Error(`write in the VM: HTTP ${r.status}`);
  }
}

async function wayBack(sizeMiB: number, changedMiB: number): Promise<BenchRow[]> {
  return withLocalStack('failback-bench-', async (stack, work) => {
    const dir = join(work, 'm');
    const image = join(dir, 'server.img');
    const agent = ['--state-dir', join(dir, 'agent')];
    const machineId = await bootableMachine(stack, dir, {
      sizeBytes: sizeMiB * MiB,
      hostname: 'fbbench',
      // An eighth of the disk is file data (what a full restore moves besides free space).
      files: { 'data.bin': randomBytes(((sizeMiB / 8) * MiB * 3) / 4).toString('base64') },
    });
    await waitFor('protected', async () =>
      (await adminApi<{ state: string }>(stack, 'GET', `machines/${machineId}/failover`)).state ===
      'protected'
        ? true
        : undefined,
    );
    say('protected');
    const failover = await op(stack, machineId, 'failover');
    const ip = failover.result!.vm!.publicIp!;
    const pointId = failover.result!.vm!.pointId!;
    await op(stack, machineId, 'commit');
    await waitFor('the VM answers', async () =>
      (await fetch(`http://${ip}/health`).catch(() => undefined))?.status === 200
        ? true
        : undefined,
    );
    say('failed over and committed');
    await writeInVm(ip, changedMiB);
    say(`${changedMiB} MiB written in the VM`);
    const diskId = String(
      (await adminApi<{ disks: { id: string }[] }>(stack, 'GET', `machines/${machineId}`)).disks[0]!
        .id,
    );
    // `--wait`: until the final diff is applied (else: what is listed now).
    const receive = (wait: boolean) =>
      agentJson<{ bytesFetched: number; done: boolean }>([
        'failback-receive',
        '--disk',
        diskId,
        '--to',
        image,
        ...(wait ? ['--wait'] : []),
        ...agent,
      ]);

    const t0 = process.hrtime.bigint();
    const reprotect = await op(stack, machineId, 'reprotect');
    const tReprotect = since(t0);
    say(`reprotected at ${tReprotect.toFixed(1)} s (${slowSteps(reprotect)})`);
    const first = await receive(false);
    const tFirst = since(t0) - tReprotect;
    say(`first diff applied by the agent in ${tFirst.toFixed(1)} s`);
    const started = await adminApi<Job>(stack, 'POST', `machines/${machineId}/failback`, {});
    const final = await receive(true);
    say(`final diff applied at ${since(t0).toFixed(1)} s`);
    const done = await ended(stack, started.id);
    const seconds = since(t0);
    const breakdown = `reprotect ${tReprotect.toFixed(1)} s (${slowSteps(reprotect)}); agent's first apply ${tFirst.toFixed(1)} s; failback ${(seconds - tReprotect - tFirst).toFixed(1)} s (${slowSteps(done)})`;
    say(breakdown);
    const disk = done.result!.disks![0]!;
    const wire = first.bytesFetched + final.bytesFetched;

    // Baseline: the same agent restores the failover point onto a blank image.
    const t1 = process.hrtime.bigint();
    const restored = await agentJson<{ bytesWritten: number }>([
      'restore',
      '--point',
      pointId,
      '--disk',
      diskId,
      '--to',
      join(work, 'full.img'),
      ...agent,
    ]);
    const full = since(t1);

    const label = `${sizeMiB} MiB disk, ${changedMiB} MiB written in Azure`;
    return [
      {
        name: `failback bytes on the wire / bytes changed in Azure, ${label}`,
        value: wire / disk.bytesChanged,
        unit: '×',
        baselineName: 'a full copy (restored bytes / changed)',
        baselineValue: restored.bytesWritten / disk.bytesChanged,
        ratio: wire / restored.bytesWritten,
        note: `target ≤ 1.1; ${(wire / MiB).toFixed(2)} MiB shipped for ${(disk.bytesChanged / MiB).toFixed(2)} MiB of changed blocks (zstd + AES-GCM envelopes); lower is better`,
      },
      {
        name: `way back: reprotect + failback + the agent applying both, ${label}`,
        value: seconds,
        unit: 's',
        baselineName: 'full restore of the failover point by the agent',
        baselineValue: full,
        ratio: seconds / full,
        note: `lower is better; ${breakdown}`,
      },
    ];
  });
}

export async function run({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  await preparePlatform();
  return quick ? wayBack(64, 4) : wayBack(1024, 16);
}
