import { mkdirSync, openSync, closeSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBootableServerImage } from '../../local/images/bootableServer';
import { debugfsRm } from '../../local/images/ext4';
import { INITRAMFS_FAILED_MARKER } from '../../local/vm/initramfsInit';
import { preparePlatform } from '../../local/vm/platform';
import { runCli } from '../admin-cli/support';
import { adminApi, adminRequest } from '../support/adminApi';
import { stackArm } from '../support/stackArm';
import { useSharedLocalStack } from '../support/useLocalStack';
import { waitFor } from '../support/waitFor';
import { fileRanges } from './support/fileBlocks';
import { stopAgent } from './support/group';
import { endedJob, served } from './support/jobs';
import { protectedMachine, runOnce, type Machine } from './support/machine';
import { serveDisk } from './support/serveDisk';

const MiB = 1024 * 1024;

/**
 * One machine recovered end to end on the local stack (issue 12 proof): a real bootable ext4
 * server disk replicated by its agent, recovered by the single-machine sagas through the local
 * ARM endpoint as a QEMU guest whose web service answers at its public IP with the data of the
 * chosen point. Test failover, cleanup, failover, change of point, commit; failover then cancel
 * with an ARM fault compensated on the way; refusals that change nothing.
 */
describe(
  'single-machine recovery end to end (real bootable disk, local ARM, QEMU)',
  { timeout: 900_000 },
  () => {
    const env = useSharedLocalStack('haven-e2e-recovery-');
    let n = 0;
    /** Machines left failed over by a failing test: cancelled after the suite, no VM outlives it. */
    const undo: string[] = [];

    beforeAll(async () => {
      await preparePlatform();
    }, 600_000);
    afterAll(async () => {
      for (const id of undo) {
        const r = await adminRequest(env.stack, 'POST', `machines/${id}/cancel-failover`, {});
        if (r.status === 202) await job(r.json.id).catch(() => undefined);
        const t = await adminRequest(env.stack, 'POST', `machines/${id}/test-failover-cleanup`, {});
        if (t.status === 202) await job(t.json.id).catch(() => undefined);
      }
    });

    /** A protected server whose /srv/data/v.txt holds `text`, recovered into `rg`. */
    async function server(rg: string, text: string): Promise<Machine> {
      const dir = path.join(env.dir, `m${n++}`);
      mkdirSync(dir);
      const image = path.join(dir, 'server.img');
      makeBootableServerImage(image, {
        sizeBytes: 16 * MiB,
        hostname: `rec${n}`,
        files: { 'v.txt': text },
      });
      const m = await protectedMachine(env.stack, dir, image);
      await adminApi(env.stack, 'PUT', `machines/${m.machineId}/recovery-settings`, {
        resourceGroup: rg,
      });
      undo.push(m.machineId);
      return m;
    }

    /** Rewrites v.txt in place on the (unmounted) image: same length, new bytes. */
    function rewrite(m: Machine, text: string): void {
      const [first] = fileRanges(m.image, '/srv/data/v.txt');
      const fd = openSync(m.image, 'r+');
      try {
        writeSync(fd, Buffer.from(text), 0, text.length, first!.offset);
      } finally {
        closeSync(fd);
      }
    }

    const job = (id: string) => endedJob(env.stack, id);
    const start = async (machineId: string, op: string, body: unknown = {}) =>
      job((await adminApi(env.stack, 'POST', `machines/${machineId}/${op}`, body)).id);
    const status = (machineId: string) =>
      adminApi(env.stack, 'GET', `machines/${machineId}/failover`);
    const cli = (...argv: string[]) =>
      runCli(env.dir, [...argv, '--env', path.join(env.stack.stateDir, 'local.env')]);

    it('test failover serves its point and cleanup leaves nothing; failover (CLI) → change point → commit', async () => {
      const rg = `rg-rec-${Date.now()}`;
      const m = await server(rg, 'one');
      const p1 = await runOnce(m);
      rewrite(m, 'two');
      const p2 = await runOnce(m);
      expect(p2.id).not.toBe(p1.id);

      // Test failover to the older point: its VM serves that point's data; production untouched.
      const t = await start(m.machineId, 'test-failover', { point: p1.id });
      expect(t.state, JSON.stringify(t.error)).toBe('succeeded');
      expect(t.result.vm.publicIp).toBeTruthy();
      expect(await served(t.result.vm.publicIp, '/data/v.txt')).toBe('one');
      expect((await status(m.machineId)).state).toBe('protected');
      const arm = stackArm(env.stack);
      expect((await arm.list(rg, [t.id])).length).toBeGreaterThan(0);
      const c = await start(m.machineId, 'test-failover-cleanup');
      expect(c.state).toBe('succeeded');
      expect(await arm.list(rg, [t.id])).toEqual([]);

      // Failover to the latest point through the CLI, waiting for the job.
      const f = await cli('failover', 'start', m.machineId, '--wait', '--json');
      expect(f.code, f.out + f.err).toBe(0);
      const fj = JSON.parse(f.out);
      expect(fj).toMatchObject({ state: 'succeeded', result: { pointId: p2.id } });
      expect(await served(fj.result.vm.publicIp, '/data/v.txt')).toBe('two');
      const shown = await cli('failover', 'status', m.machineId, '--json');
      expect(JSON.parse(shown.out)).toMatchObject({ state: 'failed-over', pointId: p2.id });

      // Change of point: the same public IP now serves the other point's data.
      const ch = await start(m.machineId, 'change-recovery-point', { point: p1.id });
      expect(ch.state, JSON.stringify(ch.error)).toBe('succeeded');
      const ip = (await status(m.machineId)).failover.vm.publicIp;
      expect(await served(ip, '/data/v.txt')).toBe('one');

      const done = await cli('failover', 'commit', m.machineId, '--wait', '--json');
      expect(done.code, done.out + done.err).toBe(0);
      expect(await status(m.machineId)).toMatchObject({ state: 'committed', pointId: p1.id });
      // Committed: the VM stays; cancel is refused (problem+json) and changes nothing.
      const refused = await adminRequest(
        env.stack,
        'POST',
        `machines/${m.machineId}/cancel-failover`,
        {},
      );
      expect(refused.json).toMatchObject({ status: 409, type: expect.any(String) });
      expect(await served(ip, '/data/v.txt')).toBe('one');
      // The committed VM is the user's now; the suite powers it off so no guest outlives it.
      const off = await arm.target.beginVmAction((await status(m.machineId)).vm.id, 'powerOff');
      await waitFor('VM powered off', async () =>
        (await arm.target.poll(off)).status === 'running' ? undefined : true,
      );
      undo.splice(undo.indexOf(m.machineId), 1);
    });

    it('a VM create that fails as an operation is compensated (nothing left); failover then cancel: back to protected, replication goes on; refusals change nothing', async () => {
      const rg = `rg-rec-cancel-${Date.now()}`;
      const m = await server(rg, 'abc');
      const p1 = await runOnce(m);
      const arm = stackArm(env.stack);
      // The initial sync's job ends (→ protected) shortly after its point.
      await waitFor('protected', async () =>
        (await status(m.machineId)).state === 'protected' ? true : undefined,
      );

      // Refusals: a point that does not exist, commit before any failover. Nothing changes.
      const unknown = await adminRequest(env.stack, 'POST', `machines/${m.machineId}/failover`, {
        point: 'no-such-point',
      });
      expect(unknown.json, unknown.text).toMatchObject({ status: 404, type: expect.any(String) });
      const early = await adminRequest(env.stack, 'POST', `machines/${m.machineId}/commit`, {});
      expect(early.status).toBe(409);
      expect((await status(m.machineId)).state).toBe('protected');
      expect(await arm.list(rg)).toEqual([]);

      // Every try of the VM create fails as a long-running operation: the saga compensates.
      await arm.fault({
        match: 'PUT virtualMachines',
        mode: 'lro',
        code: 'AllocationFailed',
        message: 'no capacity in this test',
      });
      try {
        const failed = await start(m.machineId, 'failover');
        expect(failed.state).toBe('failed');
        expect(JSON.stringify(failed.error)).toMatch(/AllocationFailed/);
      } finally {
        await arm.clearFaults();
      }
      expect((await status(m.machineId)).state).toBe('protected');
      expect(await arm.list(rg)).toEqual([]);

      const f = await start(m.machineId, 'failover', { point: p1.id });
      expect(f.state, JSON.stringify(f.error)).toBe('succeeded');
      expect(await served(f.result.vm.publicIp, '/data/v.txt')).toBe('abc');
      const c = await start(m.machineId, 'cancel-failover');
      expect(c.state, JSON.stringify(c.error)).toBe('succeeded');
      expect((await status(m.machineId)).state).toBe('protected');
      expect(await arm.list(rg, [f.id])).toEqual([]);
      // Replication never stopped: the agent cuts a new point after the cancel.
      rewrite(m, 'xyz');
      const p2 = await runOnce(m);
      expect(p2.id).not.toBe(p1.id);
    });

    it('a recovered disk that does not boot: the job fails once the VM stops, with the end of its serial console, and nothing is left', async () => {
      const rg = `rg-rec-noboot-${Date.now()}`;
      const m = await server(rg, 'abc');
      debugfsRm(m.image, '/sbin/init'); // the recovered disk's boot then fails in its initramfs
      await adminApi(env.stack, 'PUT', `machines/${m.machineId}/recovery-settings`, {
        resourceGroup: rg,
        // A cap only: the guest powers off ~3 s into its boot and the saga sees it stopped.
        probe: { timeoutSeconds: 60 },
      });
      const p = await runOnce(m);
      // The initial sync's job ends (→ protected) shortly after its point.
      await waitFor('protected', async () =>
        (await status(m.machineId)).state === 'protected' ? true : undefined,
      );
      const t = await start(m.machineId, 'test-failover', { point: p.id });
      expect(t.state).toBe('failed');
      expect(t.error.message).toBe(
        "The recovered VM stopped while booting (power state 'stopped'). The end of its serial console is in the job's result (bootDiagnostics).",
      );
      expect(t.result.bootDiagnostics).toContain(
        `${INITRAMFS_FAILED_MARKER} no ext4 filesystem with /sbin/init`,
      );
      expect(await stackArm(env.stack).list(rg, [t.id])).toEqual([]);
      expect((await status(m.machineId)).state).toBe('protected');
    });

    it('planned failover loses nothing: a write acknowledged by the running site server just before is served by the recovered VM', async () => {
      const rg = `rg-rec-planned-${Date.now()}`;
      const m = await server(rg, 'old');
      const p1 = await runOnce(m);
      await waitFor('protected', async () =>
        (await status(m.machineId)).state === 'protected' ? true : undefined,
      );
      // The site server runs: its disk is served by the agent's write splitter (NBD), which
      // journals every write; the agent cuts no points of its own (interval 1 h).
      const site = await serveDisk(m);
      try {
        const [block] = fileRanges(m.image, '/srv/data/v.txt');
        // Acknowledged by NBD, and after the last point: only a final bookmark can hold it.
        await site.write(0x5a, block!.offset, String(block!.length));
        const f = await cli('failover', 'start', m.machineId, '--planned', '--wait', '--json');
        expect(f.code, f.out + f.err).toBe(0);
        const j = JSON.parse(f.out);
        expect(j.state).toBe('succeeded');
        expect(j.result.pointId).not.toBe(p1.id);
        expect(await served(j.result.vm.publicIp, '/data/v.txt')).toBe('ZZZ');
        const c = await start(m.machineId, 'cancel-failover');
        expect(c.state, JSON.stringify(c.error)).toBe('succeeded');
        expect(await stackArm(env.stack).list(rg, [j.id])).toEqual([]);
      } finally {
        await stopAgent(site);
      }
    });
  },
);
