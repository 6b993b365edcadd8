import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../admin-cli/support';
import { commonAlert } from '../../support/alertPayloads';
import { MASTER_KEY } from './support';
import { api, waitUntil } from './sagaSupport';
import { planEnv, spawnPlansHost } from './planSupport';

describe('haven plan / job / alert-trigger / alerts / drills CLI', () => {
  it(
    'a plan with a manual action resumed through the CLI; triggers; alerts; a drill report',
    { timeout: 150_000 },
    async () => {
      const env = await planEnv(2);
      const [m1, m2] = env.machines as [string, string];
      const h = await spawnPlansHost(env);
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
      try {
        const created = await haven(
          'plan',
          'create',
          'erp',
          '--group',
          `1:${m1}`,
          '--group',
          `2:${m2}`,
          '--max-parallel',
          '4',
        );
        expect(created.out).toBe('Created plan erp (2 groups).');
        const added = await haven(
          'plan',
          'action',
          'add',
          'erp',
          '--group',
          '2',
          '--pre',
          '--kind',
          'manual',
          '--name',
          'approve',
          '--instructions',
          'check the database',
        );
        expect(added.code, added.err).toBe(0);
        expect(
          (
            await haven(
              'plan',
              'action',
              'add',
              'erp',
              '--group',
              '1',
              '--post',
              '--kind',
              'health',
              '--timeout',
              '30s',
            )
          ).code,
        ).toBe(0);
        expect(
          (await haven('plan', 'action', 'add', 'erp', '--group', '1', '--kind', 'wait')).code,
        ).toBe(2); // --pre or --post
        const shown = await haven('plan', 'show', 'erp');
        expect(shown.out).toMatch(/GROUP\s+MACHINES\s+PRE\s+POST/);
        expect(shown.out).toContain('approve(manual)');
        expect(
          (await haven('plan', 'list', '--json')).json.map((p: { name: string }) => p.name),
        ).toEqual(['erp']);

        const started = await haven('plan', 'test-failover', 'erp', '--json');
        const jobId = started.json.id as string;
        expect(started.json).toMatchObject({ type: 'plan-test-failover' });
        await waitUntil('manual action', async () =>
          (await api(h, 'GET', `/api/jobs/${jobId}`)).json.state === 'waiting-for-manual-action'
            ? true
            : undefined,
        );
        const waiting = await haven('job', jobId);
        expect(waiting.out).toContain('waiting-for-manual-action');
        expect(waiting.out).toContain(`haven job resume ${jobId}`);
        expect(waiting.out).toMatch(new RegExp(`${m1}\\s+1\\s+succeeded`));
        const resumed = await haven('job', 'resume', jobId, '--comment', 'db checked');
        expect(resumed.out).toBe(`Resumed job ${jobId}.`);
        const done = await haven('job', jobId, '--wait', '--json');
        expect(done.json).toMatchObject({
          state: 'succeeded',
          result: {
            manual: [expect.objectContaining({ comment: 'db checked', outcome: 'resumed' })],
          },
        });
        expect((await haven('job', 'resume', jobId)).code).toBe(1); // nothing waits now
        expect((await haven('plan', 'cleanup', 'erp', '--wait')).code).toBe(0);

        const t = await haven(
          'alert-trigger',
          'create',
          'site-a',
          '--plan',
          'erp',
          '--operation',
          'notify',
          '--rule',
          'site-a-down',
          '--min-severity',
          'Sev2',
          '--mode',
          'automatic',
          '--grace',
          '0',
          '--quorum',
          '1',
          '--cooldown',
          '10m',
          '--json',
        );
        expect(t.json).toMatchObject({
          name: 'site-a',
          operation: 'notify',
          graceSeconds: 0,
          cooldownSeconds: 600,
          match: { rules: ['site-a-down'], minSeverity: 'Sev2' },
        });
        expect((await haven('alert-trigger', 'list')).out).toMatch(
          /site-a\s+erp\s+notify\s+automatic\s+site-a-down\s+0s\s+1\s+10m\s+true/,
        );
        expect((await haven('alert-trigger', 'show', 'site-a', '--json')).json.plan).toBe('erp');
        expect(
          (await api(h, 'POST', '/api/alerts/azure-monitor', commonAlert({ alertId: 'cli-1' })))
            .status,
        ).toBe(202);
        await waitUntil('decided', async () => {
          const as = (await haven('alerts', '--json')).json as { outcome: string }[];
          return as[0]?.outcome === 'accepted' ? true : undefined;
        });
        expect((await haven('alerts')).out).toMatch(/site-a-down\s+Fired\s+Sev1\s+accepted/);
        expect((await haven('alert-trigger', 'delete', 'site-a')).out).toBe(
          'Deleted alert trigger site-a.',
        );

        const drill = await haven('plan', 'drill', 'erp', '--point', 'latest', '--wait', '--json');
        expect(drill.code, drill.err).toBe(0);
        const reports = await haven('drills', 'erp', '--json');
        expect(reports.json[0]).toMatchObject({
          id: drill.json.id,
          state: 'succeeded',
          leftovers: [],
          startedBy: 'admin',
        });
        expect(reports.json[0].machines.map((m: { health: string }) => m.health)).toEqual([
          'ok',
          'ok',
        ]);
        expect((await haven('drills', 'erp')).out).toMatch(/succeeded\s+latest\s+2/);
        expect((await haven('plan', 'delete', 'erp')).out).toBe('Deleted plan erp.');
      } finally {
        await h.stop();
      }
    },
  );
});
