import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch, incomingContainerOf } from '../../../core/batch';
import { collectionsDefs } from '../../../core/controlPlane/model';
import { enroll } from '../../../functions/controlPlane/enrollment';
import {
  deleteMachine,
  requestKeyRotation,
  revokeEnrollmentToken,
  revokeMachine,
  takeDataKey,
} from '../../../functions/controlPlane/machineAccess';
import { getMachine } from '../../../functions/controlPlane/machines';
import { createEnrollmentToken, createSite } from '../../../functions/controlPlane/sites';
import { protect } from '../../../functions/controlPlane/protection';
import { createPolicy } from '../../../functions/controlPlane/policies';
import type { Root } from '../../../app/root';
import {
  bearer,
  call,
  enrollInto,
  expectProblem,
  heartbeatAs,
  requestIngestToken,
  testRoot,
} from './support';

/**
 * Revocation and rotation: a revoked credential stops working at once (every machine route,
 * ingest tokens, and the data path refuses its batches); a revoked token enrolls nothing; a
 * rotated key seals new batches while batches under the old key stay readable.
 */
let root: Root;
beforeAll(async () => {
  root = testRoot();
  await call(createSite, { path: 'sites', body: { name: 'acc' } });
});

describe('revoking machines and tokens', () => {
  it('a revoked machine authenticates nowhere, gets no ingest token, and is unknown to the data path', async () => {
    const m = await enrollInto('acc');
    expect((await heartbeatAs(m.machineId, m.credential)).status).toBe(200);
    const r = await call(revokeMachine, {
      path: `machines/${m.machineId}/revoke`,
      params: { id: m.machineId },
      body: {},
    });
    expect(r.status).toBe(200);
    expect(r.json.revokedAt).toBeDefined();
    const again = await call(revokeMachine, {
      path: `machines/${m.machineId}/revoke`,
      params: { id: m.machineId },
      body: {},
    });
    expect(again.json.revokedAt).toBe(r.json.revokedAt); // idempotent
    expectProblem(await heartbeatAs(m.machineId, m.credential), 401, 'unauthenticated');
    expectProblem(await requestIngestToken(m.machineId, m.credential), 401, 'unauthenticated');
    expect(await root.replication.deps.machines.getMachine(m.machineId)).toBeUndefined();
  });

  it('a revoked token enrolls nothing; a used token cannot be revoked (409)', async () => {
    const t = await call(createEnrollmentToken, {
      path: 'sites/acc/enrollment-tokens',
      params: { id: 'acc' },
      body: {},
    });
    const rv = await call(revokeEnrollmentToken, {
      path: `enrollment-tokens/${t.json.id}/revoke`,
      params: { id: t.json.id },
      body: {},
    });
    expect(rv.status).toBe(200);
    const e = await call(enroll, {
      path: 'enroll',
      body: { token: t.json.token, hostname: 'h', os: 'linux', disks: [] },
    });
    expectProblem(e, 401, 'unauthenticated');
    const used = await call(createEnrollmentToken, {
      path: 'sites/acc/enrollment-tokens',
      params: { id: 'acc' },
      body: {},
    });
    expect(
      (
        await call(enroll, {
          path: 'enroll',
          body: { token: used.json.token, hostname: 'h', os: 'linux', disks: [] },
        })
      ).status,
    ).toBe(201);
    expectProblem(
      await call(revokeEnrollmentToken, {
        path: `enrollment-tokens/${used.json.id}/revoke`,
        params: { id: used.json.id },
        body: {},
      }),
      409,
      'conflict',
    );
  });

  it('deletes an unprotected machine and says what it removed; a protected one is 409', async () => {
    const m = await enrollInto('acc', {
      disks: [{ id: 'sda', sizeBytes: 1024 * 1024 * 1024, logicalSectorSize: 512 }],
    });
    await call(createPolicy, { path: 'policies', body: { name: `p${m.machineId.slice(-6)}` } });
    await call(protect, {
      path: `machines/${m.machineId}/protect`,
      params: { id: m.machineId },
      body: { policy: `p${m.machineId.slice(-6)}` },
    });
    expectProblem(
      await call(deleteMachine, {
        method: 'DELETE',
        path: `machines/${m.machineId}`,
        params: { id: m.machineId },
      }),
      409,
      'conflict',
    );
    const free = await enrollInto('acc', {
      disks: [{ id: 'sda', sizeBytes: 1024 * 1024 * 1024, logicalSectorSize: 512 }],
    });
    // A page blob in its claim-check container: no lifecycle rule would ever delete it.
    const blobs = root.replication.deps.blobs;
    const incoming = incomingContainerOf(free.machineId);
    await blobs.ensureContainer(incoming);
    await blobs.createPageBlob(incoming, `${free.machineId}/left.bin`, 4096);
    await blobs.putBlockBlob(incoming, `${free.machineId}/left.batch`, Buffer.from('x'));
    const d = await call(deleteMachine, {
      method: 'DELETE',
      path: `machines/${free.machineId}`,
      params: { id: free.machineId },
    });
    expect(d.status).toBe(200);
    expect(d.json.deleted).toEqual([
      'disk sda',
      '1 data key(s)',
      `machine ${free.machineId}`,
      '2 claim check(s)',
    ]);
    expect(await blobs.list(incoming, '')).toEqual([]);
    // A delete that failed while purging is retried: 404, and what is left goes.
    await blobs.createPageBlob(incoming, `${free.machineId}/late.bin`, 4096);
    const again = await call(deleteMachine, {
      method: 'DELETE',
      path: `machines/${free.machineId}`,
      params: { id: free.machineId },
    });
    expectProblem(again, 404, 'not-found');
    expect(await blobs.list(incoming, '')).toEqual([]);
    expectProblem(
      await call(getMachine, {
        path: `machines/${free.machineId}`,
        params: { id: free.machineId },
      }),
      404,
      'not-found',
    );
  });
});

describe('rotating a data key', () => {
  it('the agent hears of the request on its heartbeat, takes the key once; both keys open their batches', async () => {
    const m = await enrollInto('acc');
    const oldKey = Buffer.from(m.dataKey.key, 'base64');
    const header = (keyId: string) => ({
      machineId: m.machineId,
      diskId: 'd1',
      generation: 1,
      seq: 1,
      diskSize: 1024 * 1024,
      keyId,
    });
    const sealedOld = encodeBatch(
      header(m.dataKey.keyId),
      [{ kind: 'data', offset: 0, data: randomBytes(4096) }],
      oldKey,
    );
    expect((await heartbeatAs(m.machineId, m.credential)).json.rotateKey).toBe(false);
    const take = () =>
      call(takeDataKey, {
        path: `machines/${m.machineId}/data-key`,
        params: { id: m.machineId },
        headers: bearer(m.credential),
        body: {},
      });
    // Unasked, the credential alone mints no key (a thief could seal batches with it).
    const keyDocs = async () =>
      (
        await root.documents
          .collection(collectionsDefs.dataKeys)
          .query({ partitionKey: m.machineId })
      ).items.length;
    expectProblem(await take(), 409, 'conflict');
    expect(await keyDocs()).toBe(1);
    const req = await call(requestKeyRotation, {
      path: `machines/${m.machineId}/rotate-key`,
      params: { id: m.machineId },
      body: {},
    });
    expect(req.status).toBe(202);
    expect((await heartbeatAs(m.machineId, m.credential)).json.rotateKey).toBe(true);
    const k = await take();
    expect(k.status).toBe(201);
    // Taken once: asking again is refused until an admin asks again.
    expectProblem(await take(), 409, 'conflict');
    expect(await keyDocs()).toBe(2);
    expect(k.headers['cache-control']).toBe('no-store');
    expect(k.json.keyId).not.toBe(m.dataKey.keyId);
    expect((await heartbeatAs(m.machineId, m.credential)).json.rotateKey).toBe(false);
    const shown = await call(getMachine, {
      path: `machines/${m.machineId}`,
      params: { id: m.machineId },
    });
    expect(shown.json.keyId).toBe(k.json.keyId);
    expect(JSON.stringify(shown.json)).not.toContain(k.json.dataKey); // never shown again
    const sealedNew = encodeBatch(
      header(k.json.keyId),
      [{ kind: 'data', offset: 0, data: randomBytes(4096) }],
      Buffer.from(k.json.dataKey, 'base64'),
    );
    const keys = (machineId: string, keyId: string) =>
      root.controlPlane.machineKeys.getDataKey(machineId, keyId);
    await expect(decodeBatch(sealedOld, keys)).resolves.toBeDefined();
    await expect(decodeBatch(sealedNew, keys)).resolves.toBeDefined();
    // Another machine's credential takes no key for it.
    const other = await enrollInto('acc');
    expectProblem(
      await call(takeDataKey, {
        path: `machines/${m.machineId}/data-key`,
        params: { id: m.machineId },
        headers: bearer(other.credential),
        body: {},
      }),
      403,
      'forbidden',
    );
  });
});
