import { describe, expect, it } from 'vitest';
import { commonAlert } from '../../support/alertPayloads';
import { MASTER_KEY } from './support';
import { api, waitUntil, type HostChild } from './sagaSupport';
import { finalJob, jobIn, planEnv, spawnPlansHost, startPlanOp, type PlanEnv } from './planSupport';

const ENDED = ['succeeded', 'partially-succeeded', 'failed', 'cancelled'];

/** The plan `erp` over all machines, and a trigger on it. */
async function setup(h: HostChild, env: PlanEnv, trigger: Record<string, unknown>) {
  expect(
    (
      await api(h, 'POST', '/api/plans', {
        name: 'erp',
        groups: [{ id: 1, machines: env.machines }],
      })
    ).status,
  ).toBe(201);
  const t = await api(h, 'POST', '/api/alert-triggers', {
    name: 'site-a',
    plan: 'erp',
    ...trigger,
  });
  expect(t.status, JSON.stringify(t.json)).toBe(201);
}

const fire = async (h: HostChild, o: Parameters<typeof commonAlert>[0]) => {
  const r = await api(h, 'POST', '/api/alerts/azure-monitor', commonAlert(o));
  expect(r.status, JSON.stringify(r.json)).toBe(202);
  return r.json as { status: string; receipt: { decisionIds: string[]; reason?: string } };
};

/** The decision job's end. */
const decided = (h: HostChild, id: string) => finalJob(h, id, ENDED);

const alerts = async (h: HostChild) =>
  (await api(h, 'GET', '/api/alerts')).json.items as {
    essentials: { alertId: string; monitorCondition: string };
    outcome: string;
    reason?: string;
    jobId?: string;
  }[];

describe('alert-driven operations on the durable backend (file-backed target)', () => {
  it(
    'an alert replayed twice, then Resolved within the grace period: nothing starts; a flapping alert neither',
    { timeout: 120_000 },
    async () => {
      const env = await planEnv(1);
      const h = await spawnPlansHost(env);
      try {
        await setup(h, env, {
          operation: 'failover',
          match: { rules: ['site-a-down'] },
          graceSeconds: 4,
        });
        const first = await fire(h, { alertId: 'a-1' });
        expect(first.status).toBe('pending');
        expect((await fire(h, { alertId: 'a-1' })).status).toBe('duplicate');
        expect(
          (await fire(h, { alertId: 'a-1', monitorCondition: 'Resolved' })).receipt.reason,
        ).toBe('resolved-before-start');
        const d = await decided(h, first.receipt.decisionIds[0]!);
        expect(d.result).toMatchObject({ outcome: 'ignored', reason: 'resolved-before-start' });
        // Flapping: fired and resolved again and again inside the grace period.
        const ids: string[] = [];
        for (const n of [2, 3]) {
          ids.push((await fire(h, { alertId: `a-${n}` })).receipt.decisionIds[0]!);
          await fire(h, { alertId: `a-${n}`, monitorCondition: 'Resolved' });
        }
        for (const id of ids)
          expect((await decided(h, id)).result.reason).toBe('resolved-before-start');
        expect((await env.root.controlPlane.protectedItems.get(env.machines[0]!)).doc.state).toBe(
          'protected',
        );
        const list = await alerts(h);
        expect(
          list
            .filter((a) => a.essentials.monitorCondition === 'Fired')
            .map((a) => `${a.essentials.alertId}:${a.reason}`)
            .sort(),
        ).toEqual([
          'a-1:duplicate',
          'a-1:resolved-before-start',
          'a-2:resolved-before-start',
          'a-3:resolved-before-start',
        ]);
        expect((await api(h, 'GET', '/api/plans/erp')).json.run?.active).toBeUndefined();
      } finally {
        await h.stop();
      }
    },
  );

  it(
    "quorum: one signal is not enough; an alert plus Haven's own site-down signal is; then the cooldown",
    { timeout: 150_000 },
    async () => {
      // The schedule is off: the minute's tick would raise the site-down signal on its own once
      // the machine has been silent 10 s, racing the lone alert; the test runs it by hand.
      const env = await planEnv(1, ['p1'], {
        HAVEN_SITE_DOWN_SECONDS: '10',
        'AzureWebJobs.siteDownSignal.Disabled': 'true',
      });
      const h = await spawnPlansHost(env);
      try {
        await setup(h, env, {
          operation: 'test-failover',
          match: { rules: ['vpn-down', 'haven-site-down'] },
          quorum: 2,
          quorumWindowSeconds: 3,
          graceSeconds: 0,
          cooldownSeconds: 3600,
        });
        const lone = await fire(h, { alertId: 'q-1', alertRule: 'vpn-down' });
        expect((await decided(h, lone.receipt.decisionIds[0]!)).result).toMatchObject({
          outcome: 'ignored',
          reason: 'no-quorum',
        });

        const second = await fire(h, { alertId: 'q-2', alertRule: 'vpn-down' });
        // Haven's own signal: every replicating machine of the site has been silent (never heartbeat).
        const run = await fetch(`${h.baseUrl}/admin/functions/siteDownSignal`, {
          method: 'POST',
          headers: { 'x-functions-key': MASTER_KEY },
          body: '{}',
        });
        expect(run.status).toBe(202);
        const d = await decided(h, second.receipt.decisionIds[0]!);
        expect(d.result).toMatchObject({ outcome: 'accepted', planState: 'succeeded' });
        const planJob = (await api(h, 'GET', `/api/jobs/${d.result.planJobId}`)).json;
        expect(planJob).toMatchObject({
          type: 'plan-test-failover',
          parentJobId: d.id,
          startedBy: `alert:${d.id}`,
        });
        const list = await alerts(h);
        const site = list.find((a) => a.essentials.alertId.startsWith('/haven/sites/'))!;
        expect(site).toMatchObject({
          outcome: 'accepted',
          jobId: planJob.id,
          essentials: { monitorCondition: 'Fired' },
        });

        // Clean up by hand; a new pair of signals is suppressed by the cooldown.
        const cleanup = await startPlanOp(h, 'erp', 'test-failover-cleanup');
        await finalJob(h, cleanup, ENDED);
        const later = await fire(h, { alertId: 'q-3', alertRule: 'vpn-down' });
        await fire(h, { alertId: 'q-4', alertRule: 'haven-site-down' });
        expect((await decided(h, later.receipt.decisionIds[0]!)).result).toMatchObject({
          outcome: 'ignored',
          reason: 'cooldown',
        });
      } finally {
        await h.stop();
      }
    },
  );

  it(
    'approval: denied, timed out (denied), granted → the plan fails over; a plan failed over is left alone',
    { timeout: 150_000 },
    async () => {
      const env = await planEnv(2);
      const h = await spawnPlansHost(env);
      try {
        await setup(h, env, {
          operation: 'failover',
          match: { rules: ['site-a-down'] },
          mode: 'approval',
          graceSeconds: 0,
          approvalTimeoutSeconds: 3,
          cooldownSeconds: 0,
        });
        const ask = async (alertId: string) => {
          const id = (await fire(h, { alertId })).receipt.decisionIds[0]!;
          const j = await jobIn(h, id, ['waiting-for-manual-action', ...ENDED]);
          expect(j).toMatchObject({
            state: 'waiting-for-manual-action',
            allowedActions: ['resume', 'cancel'],
            progress: { step: 'approval' },
          });
          return id;
        };
        const denied = await ask('ap-1');
        expect(
          (await api(h, 'POST', `/api/jobs/${denied}/cancel`, { comment: 'site is fine' })).status,
        ).toBe(202);
        expect((await decided(h, denied)).result).toMatchObject({
          outcome: 'ignored',
          reason: 'denied',
        });

        const unanswered = await ask('ap-2');
        expect((await decided(h, unanswered)).result).toMatchObject({
          outcome: 'ignored',
          reason: 'approval-timed-out',
        });

        const granted = await ask('ap-3');
        expect((await api(h, 'POST', `/api/jobs/${granted}/resume`, {})).status).toBe(202);
        const d = await decided(h, granted);
        expect(d.result).toMatchObject({ outcome: 'accepted', planState: 'succeeded' });
        for (const m of env.machines)
          expect((await env.root.controlPlane.protectedItems.get(m)).doc.state).toBe('failed-over');
        await waitUntil('plan released', async () =>
          (await api(h, 'GET', '/api/plans/erp')).json.run?.active ? undefined : true,
        );
        const again = await fire(h, { alertId: 'ap-4' });
        expect((await decided(h, again.receipt.decisionIds[0]!)).result).toMatchObject({
          outcome: 'ignored',
          reason: 'already-failed-over',
        });
        const list = await alerts(h);
        expect(list.find((a) => a.essentials.alertId === 'ap-3')).toMatchObject({
          outcome: 'accepted',
          jobId: d.result.planJobId,
        });
        expect(list.find((a) => a.essentials.alertId === 'ap-1')).toMatchObject({
          outcome: 'ignored',
          reason: 'denied',
        });
      } finally {
        await h.stop();
      }
    },
  );
});
