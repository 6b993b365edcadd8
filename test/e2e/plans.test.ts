import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBootableServerImage } from '../../local/images/bootableServer';
import { preparePlatform } from '../../local/vm/platform';
import { runCli } from '../admin-cli/support';
import { adminApi, adminRequest } from '../support/adminApi';
import { commonAlert } from '../support/alertPayloads';
import type { Child } from '../support/procs';
import { stackArm } from '../support/stackArm';
import { useSharedLocalStack } from '../support/useLocalStack';
import { waitFor } from '../support/waitFor';
import { fileRanges } from './support/fileBlocks';
import { pollGroupCutsEverySecond, stopAgent, waitForGroupPoint } from './support/group';
import { endedJob, served } from './support/jobs';
import { protectedMachine, runOnce, type Machine } from './support/machine';
import { serveDisk } from './support/serveDisk';

const MiB = 1024 * 1024;

/**
 * Recovery plans end to end on the local stack (issue 13 proof): real bootable ext4 server
 * disks, replicated by agents, recovered by the plan's sagas through the local ARM endpoint as
 * QEMU guests whose web service answers at their public IPs with the data of their point.
 */
describe(
  'recovery plans end to end (real bootable disks, local ARM, QEMU)',
  { timeout: 900_000 },
  () => {
    const env = useSharedLocalStack('haven-e2e-plans-');
    const agents: Child[] = [];
    let n = 0;

    beforeAll(async () => {
      await preparePlatform();
    }, 600_000);
    /** Undone after the suite even when a test failed half way: no VM outlives it. */
    const undo: { plan: string; op: 'cancel-failover' | 'test-failover-cleanup' }[] = [];
    afterAll(async () => {
      await Promise.all(agents.map(stopAgent));
      for (const u of undo) {
        const r = await adminRequest(env.stack, 'POST', `plans/${u.plan}/${u.op}`, {});
        if (r.status === 202) await job(r.json.id).catch(() => undefined);
      }
    });

    /** A protected server with a bootable disk (its data in /srv/data), recovered into `rg`. */
    async function server(rg: string, files: Record<string, string>): Promise<Machine> {
      const dir = path.join(env.dir, `m${n++}`);
      mkdirSync(dir);
      const image = path.join(dir, 'server.img');
      makeBootableServerImage(image, { sizeBytes: 16 * MiB, hostname: `srv${n}`, files });
      const m = await protectedMachine(env.stack, dir, image);
      await adminApi(env.stack, 'PUT', `machines/${m.machineId}/recovery-settings`, {
        resourceGroup: rg,
      });
      return m;
    }

    const job = (id: string) => endedJob(env.stack, id);

    it('a consistency group recovered at its newest barrier cut: every machine serves data of the same cut', async () => {
      const rg = `rg-plan-cg-${Date.now()}`;
      const A = 'A'.repeat(4096);
      const pair = [await server(rg, { 'v.txt': A }), await server(rg, { 'v.txt': A })] as [
        Machine,
        Machine,
      ];
      for (const m of pair) {
        await runOnce(m);
        pollGroupCutsEverySecond(m);
      }
      const ranges = pair.map((m) => fileRanges(m.image, '/srv/data/v.txt'));
      await adminApi(env.stack, 'POST', 'consistency-groups', {
        name: `shop${n}`,
        members: pair.map((m) => m.machineId),
      });
      const group = `shop${n}`;
      const disks = await Promise.all(pair.map((m) => serveDisk(m)));
      agents.push(...disks);
      const write = (i: number, byte: number) =>
        Promise.all(ranges[i]!.map((r) => disks[i]!.write(byte, r.offset, String(r.length))));

      // Cut 1: both servers' v.txt reads B…; a barrier (both held their writes at the cut).
      await Promise.all([write(0, 0x42), write(1, 0x42)]);
      const cut1 = await adminApi(env.stack, 'POST', `consistency-groups/${group}/bookmarks`, {
        leadSeconds: 3,
      });
      const p1 = await waitForGroupPoint(env.stack, group, cut1.id, disks);
      expect(p1.barrier).toBe(true);
      // Then C…; the second server's agent is gone when cut 2 is made: cut 2 never completes.
      await Promise.all([write(0, 0x43), write(1, 0x43)]);
      await stopAgent(disks[1]!);
      const cut2 = await adminApi(env.stack, 'POST', `consistency-groups/${group}/bookmarks`, {
        leadSeconds: 3,
      });
      await waitForGroupPoint(env.stack, group, cut2.id, [disks[0]!], {
        until: (p) => p.missing.length === 1,
      });

      await adminApi(env.stack, 'POST', 'plans', {
        name: `cg${n}`,
        pointChoice: 'latest-group',
        groups: [
          { id: 1, machines: [pair[1].machineId] },
          { id: 2, machines: [pair[0].machineId] },
        ],
      });
      undo.push({ plan: `cg${n}`, op: 'cancel-failover' });
      const started = await adminApi(env.stack, 'POST', `plans/cg${n}/failover`, {});
      expect(started.result.groupPoints).toEqual({
        [group]: { id: cut1.id, time: expect.any(String) },
      });
      const done = await job(started.id);
      expect(done.state, JSON.stringify(done.result?.machines)).toBe('succeeded');
      for (const m of done.result.machines) {
        expect(m.pointId).toBe(cut1.id);
        expect(await served(m.vm.publicIp, '/data/v.txt')).toBe('B'.repeat(4096));
      }
      const cancel = await adminApi(env.stack, 'POST', `plans/cg${n}/cancel-failover`, {});
      expect((await job(cancel.id)).state).toBe('succeeded');
      const jobIds = done.result.machines.map((m: { jobId: string }) => m.jobId);
      expect(await stackArm(env.stack).list(rg, jobIds)).toEqual([]);
      await stopAgent(disks[0]!);
    });

    it('3 groups: a webhook, a health check and a manual action resumed through the CLI; cleanup leaves nothing', async () => {
      const rg = `rg-plan-3g-${Date.now()}`;
      const ms = [];
      for (const name of ['db', 'app', 'lb']) {
        const m = await server(rg, { 'who.txt': name });
        await runOnce(m);
        ms.push(m);
      }
      const got: unknown[] = [];
      const hook = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          got.push(JSON.parse(body));
          res.end();
        });
      });
      await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
      const plan = `three${n}`;
      undo.push({ plan, op: 'test-failover-cleanup' });
      try {
        await adminApi(env.stack, 'POST', 'plans', {
          name: plan,
          groups: [
            {
              id: 1,
              machines: [ms[0]!.machineId],
              pre: [
                {
                  name: 'notify',
                  kind: 'webhook',
                  url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/dr?code=k`,
                },
              ],
              post: [{ name: 'db-up', kind: 'health', timeoutSeconds: 120 }],
            },
            { id: 2, machines: [ms[1]!.machineId] },
            {
              id: 3,
              machines: [ms[2]!.machineId],
              pre: [{ name: 'approve', kind: 'manual', instructions: 'check the app' }],
            },
          ],
        });
        const cli = (...argv: string[]) =>
          runCli(env.dir, [...argv, '--env', path.join(env.stack.stateDir, 'local.env')]);
        const started = await cli('plan', 'test-failover', plan, '--json');
        expect(started.code, started.err).toBe(0);
        const id = JSON.parse(started.out).id as string;
        await waitFor(
          'the manual action',
          async () =>
            (await adminApi(env.stack, 'GET', `jobs/${id}`)).state === 'waiting-for-manual-action'
              ? true
              : undefined,
          { timeoutMs: 300_000, intervalMs: 500 },
        );
        const resumed = await cli('job', 'resume', id, '--comment', 'app checked');
        expect(resumed.out).toBe(`Resumed job ${id}.`);
        const done = await cli('job', id, '--wait', '--json');
        expect(done.code, done.out + done.err).toBe(0);
        const j = JSON.parse(done.out);
        expect(
          j.result.actions.map((a: { name: string; state: string }) => `${a.name}:${a.state}`),
        ).toEqual(['notify:succeeded', 'db-up:succeeded', 'approve:succeeded']);
        expect(got).toEqual([
          expect.objectContaining({
            plan,
            failoverType: 'Test',
            group: { id: 1, machines: [ms[0]!.machineId] },
          }),
        ]);
        for (const [i, m] of j.result.machines.entries())
          expect(await served(m.vm.publicIp, '/data/who.txt')).toBe(['db', 'app', 'lb'][i]);
        expect((await cli('plan', 'cleanup', plan, '--wait')).code).toBe(0);
        const jobIds = j.result.machines.map((m: { jobId: string }) => m.jobId);
        expect(await stackArm(env.stack).list(rg, jobIds)).toEqual([]);
      } finally {
        await new Promise<void>((r) => hook.close(() => r()));
      }
    });

    it("an alert fails the plan over; one machine's VM fails (ARM fault): partially-succeeded, then a restart of just it", async () => {
      const rg = `rg-plan-alert-${Date.now()}`;
      const ms = [];
      for (const name of ['a', 'b', 'c']) {
        const m = await server(rg, { 'who.txt': name });
        await runOnce(m);
        ms.push(m);
      }
      const plan = `alerted${n}`;
      undo.push({ plan, op: 'cancel-failover' });
      await adminApi(env.stack, 'POST', 'plans', {
        name: plan,
        maxParallel: 1,
        groups: [{ id: 1, machines: ms.map((m) => m.machineId) }],
      });
      await adminApi(env.stack, 'POST', 'alert-triggers', {
        name: `${plan}-down`,
        plan,
        operation: 'failover',
        match: { rules: [`${plan}-site-down`] },
        graceSeconds: 0,
      });
      const arm = stackArm(env.stack);
      // The second machine's VM create is refused (one at a time: its begin activity is tried 4
      // times, calls 2 to 5); the first and third machines' go through.
      for (const nth of [2, 3, 4, 5])
        await arm.fault({
          match: 'PUT virtualMachines',
          nth,
          mode: 'http',
          status: 409,
          code: 'AllocationFailed',
          message: 'no capacity',
        });
      try {
        const r = await adminApi(
          env.stack,
          'POST',
          'alerts/azure-monitor',
          commonAlert({ alertId: `${plan}-1`, alertRule: `${plan}-site-down` }),
        );
        expect(r.status).toBe('pending');
        const decision = await job(r.receipt.decisionIds[0]);
        expect(decision.result).toMatchObject({
          outcome: 'accepted',
          planState: 'partially-succeeded',
        });
        const planJob = await job(decision.result.planJobId);
        expect(planJob.result.machines.map((m: { state: string }) => m.state)).toEqual([
          'succeeded',
          'failed',
          'succeeded',
        ]);
        expect(planJob.result.machines[1].error).toMatch(/AllocationFailed/);
        await arm.clearFaults();
        const restart = await adminApi(env.stack, 'POST', `jobs/${planJob.id}/restart`, {});
        const again = await job(restart.id);
        expect(again.state).toBe('succeeded');
        expect(again.result.machines.map((m: { machineId: string }) => m.machineId)).toEqual([
          ms[1]!.machineId,
        ]);
        expect(await served(again.result.machines[0].vm.publicIp, '/data/who.txt')).toBe('b');
        const cancel = await adminApi(env.stack, 'POST', `plans/${plan}/cancel-failover`, {});
        expect((await job(cancel.id)).state).toBe('succeeded');
        const alerts = await adminApi(env.stack, 'GET', 'alerts');
        expect(
          alerts.items.find(
            (a: { essentials: { alertId: string } }) => a.essentials.alertId === `${plan}-1`,
          ),
        ).toMatchObject({ outcome: 'accepted', jobId: planJob.id });
      } finally {
        await arm.clearFaults();
      }
    });
  },
);
