import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBootableServerImage } from '../../local/images/bootableServer';
import { INITRAMFS_HANDOVER_MARKER } from '../../local/vm/initramfsInit';
import { preparePlatform } from '../../local/vm/platform';
import { DEFAULT_VM_MEMORY_MIB, QemuVmRunner } from '../../local/vm/qemuRunner';
import type { VmLaunchSpec } from '../../local/vm/types';
import { qemuProcessesUnder } from '../support/qemuProcesses';
import { waitFor } from '../support/waitFor';
import type { BenchRow } from './row';

/**
 * A local VM's boot: QEMU started by the runner → the bootable server's web service answers
 * GET /health at the public IP, next to the floor under it measured in the same boots: QEMU
 * start → the platform initramfs hands over to the disk's own init (the kernel's boot under
 * TCG and the virtio drivers). The difference is the guest's init, DHCP and service start.
 * The guest's CPU seconds go in the note: unlike wall time they hardly move with the load of
 * the machine.
 */
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const CLOCK_TICKS = 100; // USER_HZ on Linux x86_64: /proc/<pid>/stat counts CPU time in it

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

async function healthy(ip: string): Promise<boolean> {
  try {
    const r = await fetch(`http://${ip}/health`, { signal: AbortSignal.timeout(2_000) });
    return r.status === 200;
  } catch {
    return false;
  }
}

export async function run({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  await preparePlatform();
  const work = mkdtempSync(join(tmpdir(), 'haven-bench-vm-'));
  const runner = new QemuVmRunner({ stateDir: join(work, 'runner') });
  const disk = join(work, 'server.img');
  makeBootableServerImage(disk, { sizeBytes: 24 * 1024 * 1024, hostname: 'bench' });
  const boots: { handover: number; health: number; cpu: number }[] = [];
  try {
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      const spec: VmLaunchSpec = {
        id: `bench-vm-${i}`,
        name: `bench-vm-${i}`,
        memoryMiB: 0,
        cpus: 1,
        disks: [disk],
        nics: [
          {
            mac: '52:54:00:be:0c:01',
            subnet: '10.99.0.0/24',
            privateIp: '10.99.0.4',
            publicIp: `127.99.${process.pid % 200}.${i + 10}`,
            tcpPorts: [80],
          },
        ],
        serialLogPath: join(work, `serial-${i}.log`),
      };
      const t0 = performance.now();
      await runner.start(spec);
      const handedOver = waitFor(
        'the initramfs hands over',
        () =>
          existsSync(spec.serialLogPath) &&
          readFileSync(spec.serialLogPath, 'utf8').includes(INITRAMFS_HANDOVER_MARKER) &&
          performance.now() - t0,
        { timeoutMs: 120_000, intervalMs: 20 },
      );
      const answered = waitFor(
        'the guest answers GET /health',
        () => healthy(spec.nics[0]!.publicIp!),
        {
          timeoutMs: 120_000,
          intervalMs: 50,
        },
      ).then(() => performance.now() - t0);
      const [handover, health] = await Promise.all([handedOver, answered]);
      const pid = qemuProcessesUnder(work)[0];
      boots.push({ handover, health, cpu: pid ? cpuSeconds(pid) : NaN });
      await runner.stop(spec.id);
    }
  } finally {
    await runner.stopAll();
    rmSync(work, { recursive: true, force: true });
  }
  const health = median(boots.map((b) => b.health)) / 1000;
  const handover = median(boots.map((b) => b.handover)) / 1000;
  return [
    {
      name: `local VM boot: QEMU start → GET /health 200 (24 MiB busybox disk, TCG, ${DEFAULT_VM_MEMORY_MIB} MiB)`,
      value: health,
      unit: 's',
      baselineName: 'QEMU start → initramfs hands over (kernel boot)',
      baselineValue: handover,
      ratio: health / handover,
      note: `median of ${boots.length}; guest CPU ${median(boots.map((b) => b.cpu)).toFixed(1)} s to /health`,
    },
  ];
}
