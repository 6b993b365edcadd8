import { describe, expect, it } from 'vitest';
import { api, effectLines, finalJob, waitUntil } from './sagaSupport';
import { leftovers, recoveryEnv, runOp, spawnRecoveryHost } from './recoverySupport';

// One failing operation per kind of compensation: the network step (vnet, NIC), the parallel
// disk imports, the VM (the last step: everything before it is undone).
const RESOURCE_TYPES = [
  'Microsoft.Network/virtualNetworks',
  'Microsoft.Network/networkInterfaces',
  'Microsoft.Compute/disks',
  'Microsoft.Compute/virtualMachines',
];

describe('recovery sagas: faults and host kills leave nothing behind', () => {
  it(
    'a failure of each step (refused at once, or a failed operation) is compensated: the group is empty again',
    { timeout: 240_000 },
    async () => {
      const env = await recoveryEnv(['p1']);
      const h = await spawnRecoveryHost(env);
      try {
        // Every type as a failed operation; refused at once (retried by the activity policy,
        // then compensated) once, for the public IP.
        const cases = [
          ...RESOURCE_TYPES.map((type) => ({ type, mode: 'lro-fail' as const })),
          { type: 'Microsoft.Network/publicIPAddresses', mode: 'throw' as const },
        ];
        for (const { type, mode } of cases) {
          {
            env.target.setFaults([{ op: `put:${type}`, mode, code: 'InjectedFault' }]);
            const job = await runOp(h, env, 'test-failover');
            const label = `${mode} put ${type}`;
            expect(job.state, label).toBe('failed');
            expect(job.error.message, label).toMatch(/inject/i);
            expect(await leftovers(env), label).toEqual([]);
            const status = (await api(h, 'GET', `/api/machines/${env.machineId}/failover`)).json;
            expect(status.testFailover, label).toBeNull();
          }
        }
        // Failover compensates the same way and the machine is protected again.
        env.target.setFaults([{ op: 'put:Microsoft.Compute/virtualMachines', mode: 'lro-fail' }]);
        expect((await runOp(h, env, 'failover')).state).toBe('failed');
        expect(await leftovers(env)).toEqual([]);
        expect((await env.root.controlPlane.protectedItems.get(env.machineId)).doc.state).toBe(
          'protected',
        );
        // What compensation cannot delete stays on the record (reported) and the cleanup takes it.
        env.target.setFaults([
          { op: 'put:Microsoft.Compute/virtualMachines', mode: 'lro-fail' },
          { op: 'delete:Microsoft.Network/networkInterfaces', mode: 'lro-fail' },
        ]);
        const failed = await runOp(h, env, 'test-failover');
        expect(failed.result.compensationFailures).toHaveLength(1);
        expect(await leftovers(env)).toEqual([expect.stringMatching(/^networkInterfaces\//)]);
        const status = (await api(h, 'GET', `/api/machines/${env.machineId}/failover`)).json;
        expect(status.testFailover).toMatchObject({
          state: 'failed',
          leftovers: [expect.stringContaining('/networkInterfaces/')],
        });
        expect(
          (await api(h, 'POST', `/api/machines/${env.machineId}/test-failover`, {})).status,
        ).toBe(409);
        env.target.setFaults([]);
        expect((await runOp(h, env, 'test-failover-cleanup')).state).toBe('succeeded');
        expect(await leftovers(env)).toEqual([]);
        // With the faults gone it works.
        env.target.setFaults([]);
        expect((await runOp(h, env, 'test-failover')).state).toBe('succeeded');
      } finally {
        await h.stop();
      }
    },
  );

  it(
    'the host killed at points through a test failover: it resumes and finishes, nothing twice',
    { timeout: 240_000 },
    async () => {
      for (const killAfter of [10, 30]) {
        const env = await recoveryEnv(['p1']);
        let h = await spawnRecoveryHost(env);
        const r = await api(h, 'POST', `/api/machines/${env.machineId}/test-failover`, {});
        expect(r.status).toBe(202);
        await waitUntil(
          'effects',
          async () => (effectLines(env).length >= killAfter ? true : undefined),
          60_000,
          2,
        );
        await h.kill();
        h = await spawnRecoveryHost(env);
        try {
          const job = await finalJob(h, r.json.id as string);
          expect(job.state, `kill after ${killAfter}`).toBe('succeeded');
          const left = await leftovers(env);
          // Exactly one of each (names come from the job id: a retried PUT hits the same resource).
          expect(left.filter((x) => x.startsWith('virtualMachines/'))).toHaveLength(1);
          expect(left.filter((x) => x.startsWith('disks/'))).toHaveLength(2);
          expect(left.filter((x) => x.startsWith('networkInterfaces/'))).toHaveLength(1);
          await runOp(h, env, 'test-failover-cleanup');
          expect(await leftovers(env), `kill after ${killAfter}`).toEqual([]);
        } finally {
          await h.stop();
        }
      }
    },
  );
});

describe('recovery sagas: the host killed in the middle of each operation', () => {
  it(
    'failover, change point, cancel each resume after a kill and finish',
    { timeout: 240_000 },
    async () => {
      const env = await recoveryEnv(['p1', 'p2']);
      let h = await spawnRecoveryHost(env);
      try {
        for (const [op, body, killAfter] of [
          ['failover', { point: 'p1' }, 14],
          ['change-recovery-point', { point: 'p2' }, 12],
          ['cancel-failover', {}, 6],
        ] as const) {
          const before = effectLines(env).length;
          const r = await api(h, 'POST', `/api/machines/${env.machineId}/${op}`, body);
          expect(r.status, op).toBe(202);
          await waitUntil(
            op,
            async () => (effectLines(env).length >= before + killAfter ? true : undefined),
            60_000,
            2,
          );
          await h.kill();
          h = await spawnRecoveryHost(env);
          expect((await finalJob(h, r.json.id as string)).state, op).toBe('succeeded');
        }
        expect(await leftovers(env)).toEqual([]);
        expect((await env.root.controlPlane.protectedItems.get(env.machineId)).doc.state).toBe(
          'protected',
        );
      } finally {
        await h.stop();
      }
    },
  );
});
