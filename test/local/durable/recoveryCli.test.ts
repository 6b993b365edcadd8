import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../admin-cli/support';
import { MASTER_KEY } from './support';
import { api, waitUntil } from './sagaSupport';
import { leftovers, recoveryEnv, spawnRecoveryHost } from './recoverySupport';

describe('haven recovery CLI and the test-failover TTL', () => {
  it('points, recovery show/set, failover test --wait, status --json; an expired test is cleaned by the timer', async () => {
    const env = await recoveryEnv(['p1', 'p2']);
    const h = await spawnRecoveryHost(env);
    const cwd = mkdtempSync(join(tmpdir(), 'haven-cwd-'));
    mkdirSync(join(cwd, '.haven'));
    writeFileSync(
      join(cwd, '.haven/local.env'),
      `HAVEN_API_URL=${h.baseUrl}\nHAVEN_ADMIN_KEY=${MASTER_KEY}\n`,
    );
    const haven = async (...argv: string[]) => {
      const r = await runCli(cwd, argv);
      return {
        ...r,
        json: r.code === 0 && argv.includes('--json') ? JSON.parse(r.out) : undefined,
      };
    };
    const M = env.machineId;
    try {
      const points = await haven('points', M, '--json');
      expect(points.err).toBe('');
      expect(points.json.map((p: { id: string }) => p.id)).toEqual(['p2', 'p1']);
      expect(points.json[0]).toMatchObject({ consistency: 'crash', time: expect.any(String) });
      expect((await haven('points', M)).out).toMatch(/^ID\s+TIME\s+CONSISTENCY/);

      expect((await haven('recovery', 'show', M, '--json')).json.settings).toMatchObject({
        osDisk: 'sda',
        publicIp: true,
      });
      const set = await haven(
        'recovery',
        'set',
        M,
        '--size',
        'Standard_D2s_v3',
        '--probe',
        '8080/healthz',
        '--no-public-ip',
        '--test-ttl',
        '0.001',
        '--json',
      );
      expect(set.json.settings).toMatchObject({
        vmSize: 'Standard_D2s_v3',
        publicIp: false,
        probe: { port: 8080, path: '/healthz' },
        testFailoverTtlHours: 0.001,
      });
      expect((await haven('recovery', 'set', M, '--os-disk', 'nope')).code).toBe(1);
      await haven('recovery', 'set', M, '--public-ip');

      const test = await haven('failover', 'test', M, '--point', 'p1', '--wait', '--json');
      expect(test.json).toMatchObject({ type: 'test-failover', state: 'succeeded' });
      const status = await haven('failover', 'status', M, '--json');
      expect(status.json).toMatchObject({ state: 'protected', pointId: 'p1', test: true });
      expect(Object.keys(status.json.vm).sort()).toEqual([
        'id',
        'powerState',
        'privateIp',
        'publicIp',
      ]);
      expect(status.json.vm.publicIp).toMatch(/^127\./);
      // Refused (nothing to commit): exit 1 with the problem's title.
      const commit = await haven('failover', 'commit', M);
      expect(commit.code).toBe(1);
      expect(commit.err).toMatch(/failed-over/);

      // Past its TTL (3.6 s here), the timer starts the cleanup (startedBy: timer).
      await new Promise((r) => setTimeout(r, 4000));
      const fire = await fetch(`${h.baseUrl}/admin/functions/testFailoverTtl`, {
        method: 'POST',
        headers: { 'x-functions-key': MASTER_KEY },
      });
      expect(fire.status).toBe(202);
      const cleanupJob = await waitUntil(
        'cleanup started',
        async () => (await env.root.recovery.records.get(M)).test?.cleanupJobId,
      );
      expect((await api(h, 'GET', `/api/jobs/${cleanupJob}`)).json).toMatchObject({
        type: 'test-failover-cleanup',
        startedBy: 'timer',
      });
      await waitUntil('test failover cleaned', async () =>
        (await env.root.recovery.records.get(M)).test ? undefined : true,
      );
      expect(await leftovers(env)).toEqual([]);
    } finally {
      await h.stop();
    }
  });
});
