import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBootableServerImage, SERVER_READY_MARKER } from '../../../local/images/bootableServer';
import { debugfsRead, fsckClean } from '../../../local/images/ext4';
import { preparePlatform } from '../../../local/vm/platform';
import { QemuVmRunner } from '../../../local/vm/qemuRunner';
import { VmPlatformUnavailable, type VmLaunchSpec } from '../../../local/vm/types';
import { waitFor } from '../../support/waitFor';

/**
 * Real QEMU guests (TCG) booting a bootable ext4 server disk with the platform kernel: the
 * guest's own init runs, DHCP gives it the NIC's private IP, its web service answers at the
 * public (loopback) address, its writes land on its disk, and a fresh runner adopts or
 * restarts guests after a stack restart.
 */
const work = mkdtempSync(join(tmpdir(), 'haven-vm-'));
const runner = new QemuVmRunner({ stateDir: join(work, 'runner') });
const disk = join(work, 'server.img');
const publicIp = `127.77.${Math.floor(Math.random() * 200) + 20}.${Math.floor(Math.random() * 200) + 20}`;
const spec: VmLaunchSpec = {
  id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web01',
  name: 'web01',
  memoryMiB: 160,
  cpus: 1,
  disks: [disk],
  nics: [
    {
      mac: '52:54:00:12:34:56',
      subnet: '10.20.1.0/24',
      privateIp: '10.20.1.7',
      publicIp,
      tcpPorts: [80],
    },
  ],
  serialLogPath: join(work, 'web01.serial.log'),
};
const url = (path: string) => `http://${publicIp}${path}`;
const get = async (path: string) => {
  const r = await fetch(url(path), { signal: AbortSignal.timeout(2_000) });
  return { status: r.status, body: await r.text() };
};
const answering = () =>
  waitFor(
    'the guest answers GET /health',
    () =>
      get('/health').then(
        (r) => r.status === 200,
        () => false,
      ),
    {
      timeoutMs: 90_000,
      intervalMs: 200,
    },
  );

beforeAll(async () => {
  await preparePlatform();
  makeBootableServerImage(disk, {
    sizeBytes: 24 * 1024 * 1024,
    hostname: 'web01',
    files: { 'a.txt': 'alpha\n' },
  });
}, 120_000);

afterAll(async () => {
  await runner.stopAll();
  rmSync(work, { recursive: true, force: true });
});

describe('QemuVmRunner', () => {
  it('boots the disk: its init runs, DHCP gives the private IP, the service serves the disk data', async () => {
    await runner.start(spec);
    expect(runner.state(spec.id)).toBe('running');
    await answering();
    expect((await get('/data/a.txt')).body).toBe('alpha\n');
    const info = (await get('/cgi-bin/info')).body;
    expect(info).toContain('hostname=web01');
    expect(info).toContain('ip=10.20.1.7');
    expect(readFileSync(spec.serialLogPath, 'utf8')).toContain(SERVER_READY_MARKER);
  }, 120_000);

  it('a fresh runner adopts the live guest; a dead one is started again, its serial log appended', async () => {
    const fresh = new QemuVmRunner({ stateDir: join(work, 'runner') });
    expect(await fresh.recover([spec])).toEqual([{ id: spec.id, outcome: 'adopted' }]);
    await fresh.stop(spec.id);
    expect(runner.state(spec.id)).toBe('stopped');
    expect(await fresh.recover([spec])).toEqual([{ id: spec.id, outcome: 'restarted' }]);
    await answering();
    const log = readFileSync(spec.serialLogPath, 'utf8');
    expect(log.split(SERVER_READY_MARKER).length - 1).toBe(2);
  }, 120_000);

  it('a write in the guest is on its disk after the guest stops; the filesystem is clean', async () => {
    const body = Buffer.from(`written in the guest ${Date.now()}\n`);
    const r = await fetch(url('/cgi-bin/write?b.txt'), { method: 'POST', body });
    expect(r.status).toBe(200);
    expect((await r.text()).trim()).toBe(createHash('sha256').update(body).digest('hex'));
    await runner.stop(spec.id, { graceful: true, timeoutMs: 1_000 });
    expect(runner.state(spec.id)).toBe('stopped');
    expect(debugfsRead(disk, '/srv/data/b.txt')).toEqual(body);
    expect(fsckClean(disk)).toBe(true);
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
});
