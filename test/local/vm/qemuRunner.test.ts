import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeBootableServerImage,
  readFileFromImage,
  SERVER_POWEROFF_MARKER,
  SERVER_READY_MARKER,
} from '../../../local/images/bootableServer';
import { fsckClean, makeExt4Image } from '../../../local/images/ext4';
import { INITRAMFS_FAILED_MARKER } from '../../../local/vm/initramfsInit';
import { preparePlatform, type Platform } from '../../../local/vm/platform';
import { QemuVmRunner } from '../../../local/vm/qemuRunner';
import { VmPlatformUnavailable, type VmLaunchSpec } from '../../../local/vm/types';
import { qemuProcessesUnder } from '../../support/qemuProcesses';
import { waitFor } from '../../support/waitFor';

/**
 * Real QEMU guests (TCG) booting bootable ext4 server disks with the platform kernel: the
 * guest's own init runs, DHCP gives it the NIC's private IP, its web service answers at the
 * public (loopback) address, its writes land on its disk, a graceful stop shuts it down
 * cleanly, and a fresh runner adopts or restarts guests after a stack restart.
 */
const work = mkdtempSync(join(tmpdir(), 'haven-vm-'));
const stateDir = join(work, 'runner');
const runner = new QemuVmRunner({ stateDir });
const octet = () => Math.floor(Math.random() * 200) + 20;
/** A launch spec for the disk `disk`, with a public loopback address of its own. */
function specFor(name: string, disk: string, privateIp: string): VmLaunchSpec {
  return {
    id: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${name}`,
    name,
    memoryMiB: 0, // the runner's default
    cpus: 1,
    disks: [disk],
    nics: [
      {
        mac: `52:54:00:12:34:${octet().toString(16)}`,
        subnet: '10.20.1.0/24',
        privateIp,
        publicIp: `127.77.${octet()}.${octet()}`,
        tcpPorts: [80],
      },
    ],
    serialLogPath: join(work, `${name}.serial.log`),
  };
}
const spec = specFor('web01', join(work, 'web01.img'), '10.20.1.7');
const ipOf = (s: VmLaunchSpec) => s.nics[0]!.publicIp!;
const get = async (s: VmLaunchSpec, path: string) => {
  const r = await fetch(`http://${ipOf(s)}${path}`, { signal: AbortSignal.timeout(2_000) });
  return { status: r.status, body: await r.text() };
};
const answering = (s: VmLaunchSpec) =>
  waitFor(
    `${s.name} answers GET /health`,
    () =>
      get(s, '/health').then(
        (r) => r.status === 200,
        () => false,
      ),
    { timeoutMs: 90_000, intervalMs: 200 },
  );
const serial = (s: VmLaunchSpec) => readFileSync(s.serialLogPath, 'utf8');
const count = (text: string, marker: string) => text.split(marker).length - 1;

let platform: Platform;
const firstLog: string[] = [];

beforeAll(async () => {
  platform = await preparePlatform({ log: (l) => firstLog.push(l) });
  makeBootableServerImage(spec.disks[0]!, {
    sizeBytes: 24 * 1024 * 1024,
    hostname: 'web01',
    files: { 'a.txt': 'alpha\n' },
  });
}, 180_000);

afterAll(async () => {
  await runner.stopAll();
  rmSync(work, { recursive: true, force: true });
});

describe('the VM platform', () => {
  it('is prepared once: a second prepare reads the cache and changes nothing', async () => {
    const initrdTime = statSync(platform.initrd).mtimeMs;
    const again: string[] = [];
    expect(await preparePlatform({ log: (l) => again.push(l) })).toEqual(platform);
    expect(again).toEqual([]);
    expect(statSync(platform.initrd).mtimeMs).toBe(initrdTime);
    expect(platform.kernelVersion).toMatch(/^\d+\.\d+\.\d+-\d+-cloud-amd64$/);
  });
});

describe('QemuVmRunner', () => {
  it('boots the disk: its init runs, DHCP gives the private IP, the service serves the disk data', async () => {
    await runner.start(spec);
    expect(runner.state(spec.id)).toBe('running');
    await answering(spec);
    expect(await get(spec, '/data/a.txt')).toEqual({ status: 200, body: 'alpha\n' });
    expect((await get(spec, '/data/absent.txt')).status).toBe(404);
    expect((await get(spec, '/hostname')).body).toBe('web01\n');
    expect((await get(spec, '/info')).body).toBe('hostname=web01\nip=10.20.1.7\n');
    expect(count(serial(spec), SERVER_READY_MARKER)).toBe(1);
  }, 120_000);

  it('boots the first Linux partition of an MBR disk; a disk without an init fails with a console marker and QEMU exits', async () => {
    const mbr = specFor('mbr01', join(work, 'mbr01.img'), '10.20.1.8');
    makeBootableServerImage(mbr.disks[0]!, {
      sizeBytes: 24 * 1024 * 1024,
      hostname: 'mbr01',
      files: { 'b.txt': 'on a partition\n' },
      partitionTable: 'mbr',
    });
    const bare = specFor('bare01', join(work, 'bare01.img'), '10.20.1.9');
    makeExt4Image(bare.disks[0]!, 16 * 1024 * 1024, { fill: 0.1 });
    await Promise.all([runner.start(mbr), runner.start(bare)]);
    await answering(mbr);
    expect((await get(mbr, '/data/b.txt')).body).toBe('on a partition\n');
    await waitFor(
      'the guest without an init powers off',
      () => runner.state(bare.id) === 'stopped',
      {
        timeoutMs: 90_000,
        intervalMs: 100,
      },
    );
    expect(serial(bare)).toContain(
      `${INITRAMFS_FAILED_MARKER} no ext4 filesystem with /sbin/init on the OS disk`,
    );
    await runner.stop(mbr.id);
    expect(runner.state(mbr.id)).toBe('stopped');
  }, 120_000);

  it('a fresh runner adopts the live guest; a dead one is started again, its serial log appended', async () => {
    const fresh = new QemuVmRunner({ stateDir });
    expect(await fresh.recover([spec])).toEqual([{ id: spec.id, outcome: 'adopted' }]);
    await fresh.stop(spec.id);
    expect(runner.state(spec.id)).toBe('stopped');
    expect(await fresh.recover([spec])).toEqual([{ id: spec.id, outcome: 'restarted' }]);
    await answering(spec);
    expect(count(serial(spec), SERVER_READY_MARKER)).toBe(2);
  }, 120_000);

  it('a write in the guest is on its disk after a graceful stop, and the filesystem is clean', async () => {
    const body = Buffer.from(`written in the guest ${Date.now()}\n`);
    const r = await fetch(`http://${ipOf(spec)}/write/c.txt`, { method: 'POST', body });
    expect(r.status).toBe(200);
    expect((await r.text()).trim()).toBe(createHash('sha256').update(body).digest('hex'));
    await runner.stop(spec.id, { graceful: true, timeoutMs: 30_000 });
    expect(runner.state(spec.id)).toBe('stopped');
    expect(serial(spec)).toContain(SERVER_POWEROFF_MARKER);
    expect(readFileFromImage(spec.disks[0]!, '/srv/data/c.txt')).toEqual(body);
    expect(fsckClean(spec.disks[0]!)).toBe(true);
  }, 60_000);

  it('without the platform a start fails with VmPlatformUnavailable naming the fix', async () => {
    const bare = new QemuVmRunner({
      stateDir: join(work, 'bare'),
      platformDir: join(work, 'empty'),
    });
    const err = await bare.start({ ...spec, id: `${spec.id}-bare` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmPlatformUnavailable);
    expect((err as Error).message).toMatch(/platform kernel.*npm run setup/s);
    expect(bare.state(`${spec.id}-bare`)).toBe('stopped');
  });

  it('stopAll leaves no QEMU behind', async () => {
    await runner.start(spec);
    expect(qemuProcessesUnder(work).length).toBe(1);
    await runner.stopAll();
    expect(qemuProcessesUnder(work)).toEqual([]);
  }, 60_000);
});
