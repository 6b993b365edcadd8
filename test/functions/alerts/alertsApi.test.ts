import { createSign, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { receiveAzureMonitorAlert } from '../../../functions/alerts/azureMonitor';
import { createTrigger, getTrigger, listTriggers } from '../../../functions/alerts/alertTriggers';
import { listAlerts } from '../../../functions/alerts/alertList';
import { alertCollections } from '../../../core/alerts/model';
import { MAX_ALERT_BYTES } from '../../../core/alerts/commonAlertSchema';
import { recoverableMachine } from '../../support/recoverableMachine';
import { commonAlert } from '../../support/alertPayloads';
import { call, expectProblem, testRoot } from '../controlPlane/support';
import type { Root } from '../../../app/root';

async function setup(overrides: Parameters<typeof testRoot>[0] = {}) {
  const root = testRoot({ maxBodyBytes: 1024 * 1024, ...overrides });
  await root.ready();
  const m = await recoverableMachine(root, { sda: 1024 * 1024 });
  await root.plans.plans.create({
    name: 'erp',
    groups: [{ id: 1, machines: [m], pre: [], post: [] }],
    pointChoice: 'latest',
    maxParallel: 10,
  });
  return root;
}

/** Every alert-side document: proves a refused payload wrote nothing. */
async function alertDocs(root: Root) {
  const out: string[] = [];
  for (const def of alertCollections) {
    const page = await root.documents.collection(def).query({ limit: 1000 });
    out.push(...page.items.map((x) => `${def.name}/${x.doc.id}@${x.etag}`));
  }
  return out.sort();
}

const post = (body: unknown, headers: Record<string, string> = {}) =>
  call(receiveAzureMonitorAlert, { path: 'alerts/azure-monitor', body, headers });

describe('alerts API (handlers called as the host would)', () => {
  it('bad payloads are 400 problem+json and start nothing', async () => {
    const root = await setup();
    await call(createTrigger, {
      path: 'alert-triggers',
      body: {
        name: 'site-a',
        plan: 'erp',
        operation: 'failover',
        match: { rules: ['site-a-down'] },
      },
    });
    const before = await alertDocs(root);
    const big = commonAlert() as { data: { alertContext: unknown } };
    big.data.alertContext = { pad: 'x'.repeat(MAX_ALERT_BYTES) };
    const missing = commonAlert() as { data: { essentials: Record<string, unknown> } };
    delete missing.data.essentials.monitorCondition;
    for (const body of [
      '{not json',
      { schemaId: 'other', data: {} },
      { ...commonAlert(), schemaId: 7 },
      missing,
      big,
    ]) {
      const r = await post(body);
      expectProblem(r, 400, 'validation');
      expect(r.json.detail).not.toContain('site-a-down');
    }
    expect(await alertDocs(root)).toEqual(before);
  });

  it('no trigger: 202 ignored; a replay: duplicate; a match: a decision job; Resolved before start withdraws it', async () => {
    const root = await setup();
    const unknown = await post(commonAlert({ alertRule: 'disk-full', alertId: 'a-0' }));
    expect(unknown.status).toBe(202);
    expect(unknown.json).toMatchObject({
      status: 'ignored',
      receipt: { outcome: 'ignored', reason: 'no-trigger' },
    });

    const t = await call(createTrigger, {
      path: 'alert-triggers',
      body: {
        name: 'site-a',
        plan: 'erp',
        operation: 'failover',
        match: { rules: ['site-a-down'], minSeverity: 'Sev2' },
        graceSeconds: 600,
        cooldownSeconds: 60,
      },
    });
    expect(t.status).toBe(201);
    expect(t.json).toMatchObject({
      mode: 'automatic',
      quorum: 1,
      approvalOnTimeout: 'deny',
      enabled: true,
    });
    expectProblem(
      await call(createTrigger, {
        path: 'alert-triggers',
        body: { name: 'x', plan: 'nope', operation: 'failover', match: { rules: ['r'] } },
      }),
      400,
      'validation',
    );
    expect(
      (await call(getTrigger, { path: 'alert-triggers/site-a', params: { name: 'site-a' } }))
        .headers.etag,
    ).toBeDefined();
    expect((await call(listTriggers, { path: 'alert-triggers' })).json.items).toHaveLength(1);

    // Below the minimum severity: not matched.
    expect(
      (await post(commonAlert({ alertId: 'a-low', severity: 'Sev3' }))).json.receipt.reason,
    ).toBe('no-trigger');

    const fired = await post(commonAlert({ alertId: 'a-1' }));
    expect(fired.status).toBe(202);
    expect(fired.json).toMatchObject({
      status: 'pending',
      receipt: { outcome: 'pending', triggers: ['site-a'] },
    });
    const decisionId = fired.json.receipt.decisionIds[0] as string;
    const job = await root.controlPlane.jobs.get(decisionId);
    expect(job).toMatchObject({
      type: 'alert-decision',
      state: 'queued',
      startedBy: 'alert-trigger:site-a',
    });

    // The action group retries: the same alert again is a duplicate, recorded as such.
    const dup = await post(commonAlert({ alertId: 'a-1' }));
    expect(dup.json).toMatchObject({
      status: 'duplicate',
      receipt: { outcome: 'ignored', reason: 'duplicate', duplicateOf: fired.json.receipt.id },
    });
    // A second alert of the same trigger joins the open decision.
    const second = await post(commonAlert({ alertId: 'a-2' }));
    expect(second.json.receipt.decisionIds).toEqual([decisionId]);
    expect((await root.alerts.decisions.get(decisionId)).signals.map((s) => s.alertId)).toEqual([
      'a-1',
      'a-2',
    ]);

    const resolved = await post(commonAlert({ alertId: 'a-1', monitorCondition: 'Resolved' }));
    expect(resolved.json).toMatchObject({
      status: 'ignored',
      receipt: { reason: 'resolved-before-start', decisionIds: [decisionId] },
    });
    const dec = await root.alerts.decisions.get(decisionId);
    expect(dec.signals.find((s) => s.alertId === 'a-1')!.resolvedAt).toBe(
      '2026-12-01T10:05:00.7654321Z',
    );
    expect(dec.version).toBe(3);

    // Closing it writes the outcome onto every alert that joined; a later alert opens a new decision.
    expect(
      await root.alerts.decisions.close(
        decisionId,
        { kind: 'ignored', reason: 'no-quorum', detail: 'test' },
        3,
      ),
    ).toBe(true);
    const listed = await call(listAlerts, { path: 'alerts' });
    expect(listed.status, JSON.stringify(listed.json)).toBe(200);
    const list = listed.json.items as {
      essentials: { alertId: string; monitorCondition: string };
      outcome: string;
      reason?: string;
    }[];
    const of = (id: string, c = 'Fired') =>
      list.filter((x) => x.essentials.alertId === id && x.essentials.monitorCondition === c);
    expect(
      of('a-1')
        .map((x) => x.reason)
        .sort(),
    ).toEqual(['duplicate', 'no-quorum']);
    expect(of('a-2')[0]).toMatchObject({ outcome: 'ignored', reason: 'no-quorum' });
    expect(of('a-0')[0]).toMatchObject({ reason: 'no-trigger' });
    const next = await post(commonAlert({ alertId: 'a-3' }));
    expect(next.json.receipt.decisionIds[0]).not.toBe(decisionId);
  });

  it('Secure Webhook: with Entra configured, the token is checked (issuer, audience, role)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rules = {
      issuer: 'https://login.microsoftonline.com/t/v2.0',
      audience: 'api://haven',
      roles: ['ActionGroupsSecureWebhook'],
    };
    await setup({
      alertsEntra: { ...rules, key: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    });
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = (claims: Record<string, unknown>) => {
      const h = b64({ alg: 'RS256', typ: 'JWT', kid: 'k' });
      const p = b64({
        iss: rules.issuer,
        aud: rules.audience,
        roles: rules.roles,
        exp: Date.now() / 1000 + 600,
        ...claims,
      });
      return `Bearer ${h}.${p}.${createSign('RSA-SHA256').update(`${h}.${p}`).sign(privateKey).toString('base64url')}`;
    };
    expectProblem(await post(commonAlert({ alertId: 'e-1' })), 401, 'unauthenticated');
    expectProblem(
      await post(commonAlert({ alertId: 'e-1' }), { authorization: token({ aud: 'api://other' }) }),
      401,
      'unauthenticated',
    );
    expectProblem(
      await post(commonAlert({ alertId: 'e-1' }), { authorization: token({ roles: [] }) }),
      403,
      'forbidden',
    );
    const ok = await post(commonAlert({ alertId: 'e-1' }), { authorization: token({}) });
    expect(ok.status).toBe(202);
  });
});
