import { beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../../../functions/controlPlane/enrollment';
import {
  createReplacementToken,
  deleteMachine,
  revokeMachine,
} from '../../../functions/controlPlane/machineAccess';
import { getMachine } from '../../../functions/controlPlane/machines';
import { createSite } from '../../../functions/controlPlane/sites';
import type { Root } from '../../../app/root';
import { call, enrollInto, expectProblem, heartbeatAs, storeSnapshot, testRoot } from './support';

/**
 * New hardware, or an agent whose state was lost: an admin issues a replacement token for the
 * machine, and the agent that redeems it becomes that machine (same id, disks and protection)
 * with a new credential and a new data key, plus the machine's earlier keys to open what the
 * cloud sealed before. The old credential stops working at that instant.
 */
let root: Root;
beforeAll(async () => {
  root = testRoot();
  await call(createSite, { path: 'sites', body: { name: 'rep' } });
});

const disk = { id: 'd-rep-1', sizeBytes: 1024 * 1024, logicalSectorSize: 512 as const };

const replacementToken = (id: string, body: object = {}) =>
  call(createReplacementToken, {
    path: `machines/${id}/replacement-token`,
    params: { id },
    body,
  });

const redeem = (token: string, disks: object[] = []) =>
  call(enroll, {
    path: 'enroll',
    body: { token, hostname: 'new-hw', os: 'linux', agentVersion: '2', disks },
  });

describe('replacing a machine', () => {
  it('the new agent takes over the machine: new credential and key, earlier keys handed over, the old credential dead', async () => {
    const m = await enrollInto('rep', { disks: [disk] });
    // Even a revoked machine: the admin who issues the replacement vouches for the new agent.
    await call(revokeMachine, {
      path: `machines/${m.machineId}/revoke`,
      params: { id: m.machineId },
      body: {},
    });
    const t = await replacementToken(m.machineId, { ttlSeconds: 600 });
    expect(t.status).toBe(201);
    expect(t.headers['cache-control']).toBe('no-store');
    expect(t.json).toMatchObject({ replaces: m.machineId, siteId: 'rep' });

    // The disks a fresh agent lists are ignored: the machine's stand.
    const r = await redeem(t.json.token, [{ ...disk, id: 'd-other' }]);
    expect(r.status).toBe(201);
    expect(r.json.machineId).toBe(m.machineId);
    expect(r.json.credential).not.toBe(m.credential);
    expect(r.json.dataKey.keyId).not.toBe(m.dataKey.keyId);
    expect(r.json.replaced.previousKeys).toEqual([{ keyId: m.dataKey.keyId, key: m.dataKey.key }]);

    expectProblem(await heartbeatAs(m.machineId, m.credential), 401, 'unauthenticated');
    expect((await heartbeatAs(m.machineId, r.json.credential)).status).toBe(200);
    const shown = await call(getMachine, {
      path: `machines/${m.machineId}`,
      params: { id: m.machineId },
    });
    expect(shown.json).toMatchObject({ keyId: r.json.dataKey.keyId, hostname: 'new-hw' });
    expect(shown.json.revokedAt).toBeUndefined();
    expect(shown.json.replacedAt).toBeDefined();
    expect(shown.json.disks.map((d: { id: string }) => d.id)).toEqual([disk.id]);
    // The new key opens batches for the machine on the data path.
    const key = await root.controlPlane.machineKeys.getDataKey(m.machineId, r.json.dataKey.keyId);
    expect(key.toString('base64')).toBe(r.json.dataKey.key);

    // One-time: the token does not take the machine over again.
    expectProblem(await redeem(t.json.token), 401, 'unauthenticated');
  });

  it('two agents redeeming one token at once: one takes over, the other is refused and its credential never works', async () => {
    const m = await enrollInto('rep');
    const t = await replacementToken(m.machineId);
    const [a, b] = await Promise.all([redeem(t.json.token), redeem(t.json.token)]);
    const won = [a, b].filter((x) => x.status === 201);
    const lost = [a, b].filter((x) => x.status !== 201);
    expect(won).toHaveLength(1);
    expectProblem(lost[0]!, 401, 'unauthenticated');
    expect((await heartbeatAs(m.machineId, won[0]!.json.credential)).status).toBe(200);
  });

  it('unknown machine, bad body, or a machine deleted since: a clear error and nothing changes', async () => {
    const before = await storeSnapshot(root);
    expectProblem(await replacementToken('m-nope'), 404, 'not-found');
    expectProblem(await replacementToken('m-nope', { ttlSeconds: 1 }), 400, 'validation');
    expect(await storeSnapshot(root)).toEqual(before);

    const m = await enrollInto('rep');
    const t = await replacementToken(m.machineId);
    await call(deleteMachine, {
      path: `machines/${m.machineId}`,
      params: { id: m.machineId },
    });
    const gone = await storeSnapshot(root);
    expectProblem(await redeem(t.json.token), 401, 'unauthenticated');
    expect(await storeSnapshot(root)).toEqual(gone);
  });
});
