import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, statSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { debugfsWrite, makeExt4Image, sha256File } from '../../local/images/ext4';
import type { FakeControlPlane } from './support/fakeControlPlane';
import { mixedData } from './support/testData';
import { useFakeControlPlane } from './support/useFakeControlPlane';
import { replayDisk } from './support/replay';
import { agent } from './support/runAgent';

describe('haven-agent CLI against a fake control plane', { timeout: 180_000 }, () => {
  const env = useFakeControlPlane('agent-cli');
  let dir: string;
  let cp: FakeControlPlane;
  let image: string;
  let stateDir: string;
  let capture: string;
  let diskId: string;
  const st = () => ['--state-dir', stateDir];
  const restore = (point: string, to: string, ...extra: string[]) =>
    agent(['restore', '--point', point, '--disk', diskId, '--to', to, ...extra, ...st()]);

  beforeAll(() => {
    ({ dir, cp, capture } = env);
    stateDir = path.join(dir, 'state');
    image = path.join(dir, 'disk.img');
    makeExt4Image(image, 64 * 2 ** 20, { fill: 0 });
    debugfsWrite(image, 'a.bin', mixedData(3 * 1024 * 1024 + 4096));
  });

  it('enrolls and stores the credential and data key 0600', async () => {
    const bad = await agent(['enroll', '--api', cp.url, '--token', 'hvt.x.y', ...st()]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^haven-agent: The enrollment token is invalid/);
    // Plain http to another host would send the token, then the credential, in the clear.
    const http = await agent(['enroll', '--api', 'http://192.0.2.1/api', '--token', 'x', ...st()]);
    expect(http.code).not.toBe(0);
    expect(http.stderr).toMatch(/--api must be an https:\/\/ URL/);
    // The token from a file stays out of the process list.
    const tokenFile = path.join(dir, 'token');
    await fsp.writeFile(tokenFile, `${cp.token}\n`, { mode: 0o600 });
    const r = await agent([
      'enroll',
      '--api',
      cp.url,
      '--token-file',
      tokenFile,
      '--name',
      'web-1',
      '--json',
      ...st(),
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ machineId: cp.machineId });
    const f = path.join(stateDir, 'agent.json');
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(f, 'utf8'))).toMatchObject({
      machineId: cp.machineId,
      keyId: cp.keyId,
      dataKey: cp.dataKey.toString('base64'),
    });
  });

  it('adds a disk with a stable id', async () => {
    const r = await agent(['disk', 'add', image, '--json', ...st()]);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as { id: string; sizeBytes: number; sectorSize: number };
    expect(d).toMatchObject({ sizeBytes: 64 * 2 ** 20, sectorSize: 512 });
    expect(d.id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/);
    expect(cp.disks.get(d.id)).toEqual({
      id: d.id,
      sizeBytes: 64 * 2 ** 20,
      logicalSectorSize: 512,
    });
    const again = await agent(['disk', 'add', image, '--json', ...st()]);
    expect(JSON.parse(again.stdout).id).toBe(d.id);
    diskId = d.id;
  });

  it('run --once replicates, cuts a bookmark, waits for the point and prints its id', async () => {
    const r = await agent(['run', '--once', '--capture', capture, ...st()]);
    expect(r.code, r.stderr).toBe(0);
    const pid = r.stdout.trim();
    expect(pid).toMatch(/^bm-/);
    const rep = await replayDisk(capture, diskId, 64 * 2 ** 20, cp.dataKey, pid);
    expect(rep.conflicts).toEqual([]);
    expect(rep.image.equals(readFileSync(image))).toBe(true);
    // Second run after a change: only the delta travels, seqs continue.
    debugfsWrite(image, 'b.bin', mixedData(700 * 1024));
    const r2 = await agent(['run', '--once', '--json', '--capture', capture, ...st()]);
    expect(r2.code, r2.stderr).toBe(0);
    const out = JSON.parse(r2.stdout) as {
      recoveryPoint: { id: string };
      status: { disks: { lastAckedSeq: number }[] };
    };
    const rep2 = await replayDisk(capture, diskId, 64 * 2 ** 20, cp.dataKey, out.recoveryPoint.id);
    expect(rep2.image.equals(readFileSync(image))).toBe(true);
    expect(rep2.lastSeq).toBeGreaterThan(rep.lastSeq);
    expect(out.status.disks[0]!.lastAckedSeq).toBe(rep2.lastSeq);
  });

  it('status reports per-disk seqs and spool backlog', async () => {
    const r = await agent(['status', '--json', ...st()]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as {
      running: boolean;
      disks: { id: string; spoolPendingBytes: number; lastAckedSeq: number }[];
    };
    expect(s.running).toBe(false);
    expect(s.disks[0]).toMatchObject({ id: diskId, spoolPendingBytes: 0 });
    expect(s.disks[0]!.lastAckedSeq).toBeGreaterThan(1);
    // The newest point is the last run's bookmark, the last batch sent: hydrated = acked.
    const cloud = s as unknown as {
      rpoSource: string;
      disks: { lastHydratedSeq?: number; lastAckedSeq: number }[];
    };
    expect(cloud.rpoSource).toBe('cloud');
    expect(cloud.disks[0]!.lastHydratedSeq).toBe(cloud.disks[0]!.lastAckedSeq);
    const h = await agent(['status', ...st()]);
    expect(h.stdout).toMatch(/acked seq \d+/);
  });

  it('restores a point, writing only differing blocks onto an old copy, verified by digest', async () => {
    const once = await agent(['run', '--once', '--capture', capture, ...st()]);
    const pid = once.stdout.trim();
    const fresh = path.join(dir, 'restored.img');
    const r = await restore(pid, fresh, '--json');
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as {
      verified: boolean;
      bytesWritten: number;
      sizeBytes: number;
    };
    expect(res.verified).toBe(true);
    expect(res.sizeBytes).toBe(64 * 2 ** 20);
    expect(statSync(fresh).size).toBe(64 * 2 ** 20); // footer stripped
    expect(sha256File(fresh)).toBe(sha256File(image));
    // An older copy: the restore moves only the blocks that differ.
    const old = path.join(dir, 'old.img');
    copyFileSync(fresh, old);
    debugfsWrite(old, 'junk.bin', mixedData(256 * 1024));
    const r2 = await restore(pid, old, '--json');
    expect(r2.code, r2.stderr).toBe(0);
    const res2 = JSON.parse(r2.stdout) as { bytesWritten: number; verified: boolean };
    expect(res2.verified).toBe(true);
    expect(res2.bytesWritten).toBeGreaterThan(0);
    expect(res2.bytesWritten).toBeLessThan(2 * 2 ** 20);
    expect(sha256File(old)).toBe(sha256File(image));
    // Bare metal: onto a block device (loop), and a device too small is refused.
    const devFile = path.join(dir, 'dev.img');
    await fsp.writeFile(devFile, Buffer.alloc(64 * 2 ** 20));
    const dev = execFileSync('losetup', ['-f', '--show', devFile]).toString().trim();
    const smallFile = path.join(dir, 'small.img');
    await fsp.writeFile(smallFile, Buffer.alloc(16 * 2 ** 20));
    const small = execFileSync('losetup', ['-f', '--show', smallFile]).toString().trim();
    try {
      const r3 = await restore(pid, dev, '--json');
      expect(r3.code, r3.stderr).toBe(0);
      expect((JSON.parse(r3.stdout) as { verified: boolean }).verified).toBe(true);
      expect(sha256File(devFile)).toBe(sha256File(image));
      const r4 = await restore(pid, small);
      expect(r4.code).not.toBe(0);
      expect(r4.stderr).toMatch(/^haven-agent: Device .* holds 16777216 bytes/);
    } finally {
      execFileSync('losetup', ['-d', dev]);
      execFileSync('losetup', ['-d', small]);
    }
    const missing = await restore('bm-nope', fresh);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/^haven-agent: .*does not exist/);
  });
});
