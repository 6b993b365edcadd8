import { createHash } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, writeSync, closeSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBootableServerImage } from '../../local/images/bootableServer';
import { fsckClean } from '../../local/images/ext4';
import { preparePlatform } from '../../local/vm/platform';
import { QemuVmRunner } from '../../local/vm/qemuRunner';
import { runCli } from '../admin-cli/support';
import { adminApi, adminRequest } from '../support/adminApi';
import { stackArm } from '../support/stackArm';
import { useSharedLocalStack } from '../support/useLocalStack';
import { waitFor } from '../support/waitFor';
import {
  endedJob,
  firstPointAfterReenable,
  protectionState,
  served,
  succeededOp,
  writeOnServer,
} from './support/jobs';
import { agentJsonOn, protectedMachine, restore, runOnce } from './support/machine';

const MiB = 1024 * 1024;

/** Bytes of the 4 KiB blocks in which two images differ. */
function changedBlockBytes(a: Buffer, b: Buffer): number {
  let n = 0;
  for (let off = 0; off < b.length; off += 4096)
    if (!a.subarray(off, off + 4096).equals(b.subarray(off, off + 4096)))
      n += Math.min(4096, b.length - off);
  return n;
}

interface Received {
  batchesApplied: number;
  bytesFetched: number;
  provedBytesWritten: number;
  lastSeq: number;
  digest: string;
  done: boolean;
  repairs: number;
  repairedBytes: number;
  repairBytesFetched: number;
}

interface ShippedDisk {
  diskId: string;
  snapshotId: string;
  bytesChanged: number;
  bytesShipped: number;
}

/**
 * The way back end to end (issue 14): a bootable ext4 server protected, failed over to a real
 * QEMU VM through the local ARM endpoint, committed; files written inside the Azure VM;
 * reprotect ships the VM's changes, failback powers it off and ships the rest; the agent
 * applies them onto the original site image, which then boots and serves the files written
 * in Azure, equals the Azure disk byte for byte and checks clean.
 */
describe(
  'reprotect and failback end to end (real bootable disk, local ARM, QEMU)',
  { timeout: 900_000 },
  () => {
    const env = useSharedLocalStack('haven-e2e-failback-');
    const runner = () => new QemuVmRunner({ stateDir: path.join(env.dir, 'site-vms') });
    let site: QemuVmRunner | undefined;

    beforeAll(async () => {
      await preparePlatform();
    }, 600_000);
    afterAll(async () => {
      await site?.stopAll();
    });

    const job = (id: string) => endedJob(env.stack, id);
    const run = (machineId: string, op: string) => succeededOp(env.stack, machineId, op);
    const write = writeOnServer;

    it('fails back only what changed: the site image boots with the files written in Azure and equals the Azure disk', async () => {
      const dir = path.join(env.dir, 'fb');
      mkdirSync(dir);
      const image = path.join(dir, 'server.img');
      makeBootableServerImage(image, {
        sizeBytes: 16 * MiB,
        hostname: 'fbsrv',
        files: { 'site.txt': 'written on the site\n' },
      });
      const m = await protectedMachine(env.stack, dir, image);
      const rg = `rg-failback-${Date.now()}`;
      await adminApi(env.stack, 'PUT', `machines/${m.machineId}/recovery-settings`, {
        resourceGroup: rg,
      });
      const state = () => protectionState(env.stack, m.machineId);
      await runOnce(m);
      await waitFor('protected', async () => ((await state()) === 'protected' ? true : undefined), {
        timeoutMs: 180_000,
        intervalMs: 500,
      });
      const failedOver = await run(m.machineId, 'failover');
      const ip = failedOver.result.vm.publicIp as string;
      await run(m.machineId, 'commit');

      // Refused before reprotect: failback needs reprotected.
      const early = await adminRequest(env.stack, 'POST', `machines/${m.machineId}/failback`, {});
      expect(early.status).toBe(409);

      await write(ip, 'azure1.txt', 'written in Azure before reprotect\n');
      // Through the CLI, as an operator would: reprotect, waiting for its job.
      const cli = (...argv: string[]) =>
        runCli(env.dir, [...argv, '--env', path.join(env.stack.stateDir, 'local.env')]);
      const rp = await cli('reprotect', m.machineId, '--wait', '--json');
      expect(rp.code, rp.out + rp.err).toBe(0);
      const reprotected = JSON.parse(rp.out);
      expect(reprotected.state).toBe('succeeded');

      expect(await state()).toBe('reprotected');
      // The site image drifted from the failover point in a block the VM never wrote: the
      // agent restores that block from the point before applying anything.
      const fd = openSync(image, 'r+');
      writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 15 * MiB);
      closeSync(fd);
      const first = await agentJsonOn<Received>(m, [
        'failback-receive',
        '--disk',
        m.diskId,
        '--to',
        image,
        '--json',
      ]);
      expect(first.provedBytesWritten).toBeGreaterThan(0);
      expect(first.batchesApplied).toBeGreaterThan(0);
      expect(first.done).toBe(false);

      // A site block damaged after the first diff was applied (a write behind Haven's back, or
      // a range lost on the way): the final digest differs, the agent names the block, the
      // failback ships it again from the final snapshot, and only then is the digest accepted.
      const lost = openSync(image, 'r+');
      writeSync(lost, Buffer.alloc(4096, 0x77), 0, 4096, 14 * MiB);
      closeSync(lost);

      // A failback cancelled before the site took over: the Azure VM runs (and serves) again.
      const fb0 = await cli('failback', m.machineId, '--json');
      expect(fb0.code, fb0.out + fb0.err).toBe(0);
      const cancel = await cli('failback', 'cancel', m.machineId, '--wait', '--json');
      expect(cancel.code, cancel.out + cancel.err).toBe(0);
      expect(JSON.parse(cancel.out)).toMatchObject({
        id: JSON.parse(fb0.out).id,
        state: 'cancelled',
      });
      expect(await state()).toBe('reprotected');
      await waitFor(
        'the Azure VM serves again',
        () => served(ip, '/health').catch(() => undefined),
        {
          timeoutMs: 120_000,
          intervalMs: 500,
        },
      );

      await write(ip, 'azure2.txt', 'written in Azure after reprotect\n');
      const fb = await cli('failback', m.machineId, '--json');
      expect(fb.code, fb.out + fb.err).toBe(0);
      const started = JSON.parse(fb.out);
      const received = await agentJsonOn<Received>(m, [
        'failback-receive',
        '--disk',
        m.diskId,
        '--to',
        image,
        '--wait',
        '--json',
      ]);
      expect(received.done).toBe(true);
      expect(received.repairs).toBe(1);
      expect(received.repairedBytes).toBe(64 * 1024);
      const done = await job(started.id);
      expect(done.state, JSON.stringify(done.error ?? done.result)).toBe('succeeded');
      expect(await state()).toBe('failed-back');
      // Past the point of no return: a cancel is refused and changes nothing.
      const late = await adminRequest(
        env.stack,
        'POST',
        `machines/${m.machineId}/cancel-failback`,
        {},
      );
      expect(late.status).toBe(409);
      expect(await state()).toBe('failed-back');

      // Byte for byte the Azure disk at failback (its final snapshot, read through an access URI).
      const finalDisk = (done.result.disks as ShippedDisk[])[0]!;
      const reader = await stackArm(env.stack).target.openSnapshot(finalDisk.snapshotId, 600);
      const sizeBytes = readFileSync(image).length;
      const azure = await reader.read(0, sizeBytes);
      await reader.close();
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      expect(sha(readFileSync(image))).toBe(sha(azure));

      // Only what changed travelled: envelope bytes against the changed blocks of both diffs.
      const firstDisk = (reprotected.result.disks as ShippedDisk[])[0]!;
      const shipped = first.bytesFetched + received.bytesFetched - received.repairBytesFetched;
      expect(shipped).toBe(finalDisk.bytesShipped);
      expect(received.repairBytesFetched).toBeGreaterThan(0);
      expect(finalDisk.bytesChanged).toBeGreaterThan(firstDisk.bytesChanged);
      expect(finalDisk.bytesChanged).toBeLessThan(sizeBytes / 2);
      console.log(
        `failback: ${(finalDisk.bytesChanged / MiB).toFixed(2)} MiB changed in Azure, ${(shipped / MiB).toFixed(2)} MiB shipped (ratio ${(shipped / finalDisk.bytesChanged).toFixed(3)}) of a ${sizeBytes / MiB} MiB disk`,
      );

      const atFailback = readFileSync(image);
      // The site server boots from its own disk and serves what was written in Azure.
      site = runner();
      const spec = {
        id: `/site/${m.machineId}`,
        name: 'fbsrv-site',
        memoryMiB: 0,
        cpus: 1,
        disks: [image],
        nics: [
          {
            mac: '52:54:00:12:35:07',
            subnet: '10.30.1.0/24',
            privateIp: '10.30.1.7',
            publicIp: `127.78.${Math.floor(Math.random() * 200) + 20}.9`,
            tcpPorts: [80],
          },
        ],
        serialLogPath: path.join(dir, 'site.serial.log'),
      };
      await site.start(spec);
      const get = async (p: string) => {
        const r = await fetch(`http://${spec.nics[0]!.publicIp}${p}`, {
          signal: AbortSignal.timeout(3000),
        });
        return r.status === 200 ? r.text() : undefined;
      };
      await waitFor('the site server answers', () => get('/health').catch(() => undefined), {
        timeoutMs: 120_000,
        intervalMs: 300,
      });
      expect(await get('/data/site.txt')).toBe('written on the site\n');
      expect(await get('/data/azure1.txt')).toBe('written in Azure before reprotect\n');
      expect(await get('/data/azure2.txt')).toBe('written in Azure after reprotect\n');
      // The server runs on the site again and writes there.
      await fetch(`http://${spec.nics[0]!.publicIp}/write/site2.txt`, {
        method: 'POST',
        body: 'written on the site after failback\n',
      }).then((r) => expect(r.status).toBe(200));
      await site.stop(spec.id, { graceful: true, timeoutMs: 30_000 });
      expect(fsckClean(image)).toBe(true);

      // Commit of the failback: what the failover made in Azure goes, but the final snapshot.
      const vmId = failedOver.result.vm.vmId as string;
      const cm = await cli('failback', 'commit', m.machineId, '--wait', '--json');
      expect(cm.code, cm.out + cm.err).toBe(0);
      const committed = JSON.parse(cm.out).result as { removed: string[]; kept: string[] };
      expect(committed.removed).toContain(vmId);
      expect(committed.kept).toEqual([finalDisk.snapshotId]);
      const left = (await stackArm(env.stack).list(rg)).map((r) => r.id);
      expect(left.filter((id) => !/virtualNetworks/i.test(id))).toEqual([finalDisk.snapshotId]);

      // Re-enable without a full resync: the new replica starts as the disk at failback, and the
      // agent sends only the blocks the site changed since (the boot, site2.txt).
      const changed = changedBlockBytes(atFailback, readFileSync(image));
      const nonZero = changedBlockBytes(Buffer.alloc(atFailback.length), readFileSync(image));
      const re = await cli('reenable', m.machineId, '--json');
      expect(re.code, re.out + re.err).toBe(0);
      const reJob = JSON.parse(re.out).id as string;
      const { point, ...doc } = await firstPointAfterReenable(env.stack, m, reJob);
      expect(doc.bytesApplied).toBeGreaterThan(0);
      expect(doc.bytesSentToFirstPoint).toBe(doc.bytesApplied);
      expect(doc.bytesApplied).toBeLessThanOrEqual(changed);
      expect(doc.bytesApplied).toBeLessThan(nonZero / 4);
      // The point is the site disk, whole: restored, it equals the image byte for byte.
      const back = path.join(dir, 'reenabled.img');
      const restored = await restore(m, point.id, back);
      expect(restored.verified).toBe(true);
      expect(sha(readFileSync(back))).toBe(sha(readFileSync(image)));
      expect((await stackArm(env.stack).list(rg)).filter((r) => /snapshots/i.test(r.id))).toEqual(
        [],
      );
      console.log(
        `re-enable: ${(doc.bytesApplied / MiB).toFixed(2)} MiB sent for ${(changed / MiB).toFixed(2)} MiB of blocks the site changed since failback (a full sync: ${(nonZero / MiB).toFixed(2)} MiB)`,
      );
    });
  },
);
