import { describe, expect, it } from 'vitest';
import {
  getRecoverySettings,
  putRecoverySettings,
} from '../../../functions/recovery/recoverySettings';
import {
  changeRecoveryPoint,
  failover,
  testFailover,
} from '../../../functions/recovery/recoveryOperations';
import { getFailoverStatus } from '../../../functions/recovery/failoverStatus';
import { recoveryCollections } from '../../../core/recovery/model';
import { addPoint, recoverableMachine } from '../../support/recoverableMachine';
import { call, expectProblem, storeSnapshot, testRoot } from '../controlPlane/support';

async function setup(points: string[] = []) {
  const root = testRoot();
  await root.ready();
  const id = await recoverableMachine(root, { sda: 2 * 1024 * 1024 });
  for (const p of points) await addPoint(root, id, p);
  return { root, id };
}

/** Control-plane and recovery documents (id + ETag): proves a refusal wrote nothing. */
async function everything(root: Awaited<ReturnType<typeof setup>>['root']) {
  const out = await storeSnapshot(root);
  for (const def of recoveryCollections) {
    const page = await root.documents.collection(def).query({ limit: 1000 });
    out.push(...page.items.map((x) => `${def.name}/${x.doc.id}@${x.etag}`));
  }
  return out.sort();
}

describe('recovery API (handlers called as the host would)', () => {
  it('recovery settings: defaults with an ETag, If-Match, problems for stale and invalid', async () => {
    const { id } = await setup();
    const path = `machines/${id}/recovery-settings`;
    const got = await call(getRecoverySettings, { path, params: { id } });
    expect(got.status).toBe(200);
    expect(got.json.settings).toMatchObject({ osDisk: 'sda', resourceGroup: 'haven-recovery' });
    const put = await call(putRecoverySettings, {
      method: 'PUT',
      path,
      params: { id },
      body: { vmSize: 'Standard_D2s_v3' },
      headers: { 'if-match': got.headers.etag! },
    });
    expect(put.status).toBe(200);
    expect(put.json.explicit).toEqual({ vmSize: 'Standard_D2s_v3' });
    expect(put.headers.etag).not.toBe(got.headers.etag);
    const stale = await call(putRecoverySettings, {
      method: 'PUT',
      path,
      params: { id },
      body: { vmSize: 'Standard_B1s' },
      headers: { 'if-match': got.headers.etag! },
    });
    expectProblem(stale, 412, 'precondition');
    const invalid = await call(putRecoverySettings, {
      method: 'PUT',
      path,
      params: { id },
      body: { privateIp: '10.99.0.5' },
    });
    expectProblem(invalid, 400, 'validation');
    const unknown = await call(putRecoverySettings, {
      method: 'PUT',
      path,
      params: { id },
      body: { color: 'red' },
    });
    expectProblem(unknown, 400, 'validation');
  });

  it('refusals are problems and write nothing; Idempotency-Key gives the same job', async () => {
    const { root, id } = await setup();
    const before = await everything(root);
    expectProblem(
      await call(testFailover, { path: `machines/${id}/test-failover`, params: { id }, body: {} }),
      409,
      'conflict',
    );
    expectProblem(
      await call(changeRecoveryPoint, {
        path: `machines/${id}/change-recovery-point`,
        params: { id },
        body: { point: 'x' },
      }),
      409,
      'conflict',
    );
    expect(await everything(root)).toEqual(before);

    await addPoint(root, id, 'p1');
    expectProblem(
      await call(failover, {
        path: `machines/${id}/failover`,
        params: { id },
        body: { point: 'p9' },
      }),
      404,
      'not-found',
    );
    const req = (body: unknown, key: string) =>
      call(failover, {
        path: `machines/${id}/failover`,
        params: { id },
        body,
        headers: { 'idempotency-key': key },
      });
    const a = await req({ point: 'p1' }, 'k-1');
    expect(a.status).toBe(202);
    expect(a.headers.location).toBe(`/api/jobs/${a.json.id}`);
    expect(a.json).toMatchObject({ type: 'failover', state: 'queued', idempotencyKey: 'k-1' });
    const b = await req({ point: 'p1' }, 'k-1');
    expect(b).toMatchObject({ status: 200, json: { id: a.json.id } });
    expectProblem(await req({ point: 'latest' }, 'k-1'), 409, 'conflict');
    const status = await call(getFailoverStatus, {
      path: `machines/${id}/failover`,
      params: { id },
    });
    expect(status.json).toMatchObject({
      state: 'failing-over',
      test: false,
      vm: null,
      failover: { jobId: a.json.id },
    });
  });
});
