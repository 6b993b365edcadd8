import { beforeAll, describe, expect, it } from 'vitest';
import { InvocationContext } from '@azure/functions';
import type { Root } from '../../../app/root';
import { createEnrollmentToken, createSite } from '../../../functions/controlPlane/sites';
import { enroll } from '../../../functions/controlPlane/enrollment';
import { protect } from '../../../functions/controlPlane/protection';
import { getMachine } from '../../../functions/controlPlane/machines';
import { ingestHandler } from '../../../functions/replication/ingest';
import { hydrateHandler } from '../../../functions/replication/hydrate';
import { retentionHandler } from '../../../functions/replication/retention';
import {
  agentGetPoint,
  agentListPoints,
  agentPointReadUrl,
  getPoint,
  listPoints,
} from '../../../functions/replication/recoveryPoints';
import { operationOf } from '../../../functions/controlPlane/api';
import { claimBlobPath, incomingContainerOf, makeBatchRef, peekHeader } from '../../../core/batch';
import { stagingBlobName } from '../../../core/replication/names';
import { bookmark, data, TestDisk, zero } from '../../core/replication/support';
import { bearer, call, expectProblem, testRoot } from '../controlPlane/support';

const MiB = 1024 * 1024;
let root: Root;

interface Enrolled {
  machineId: string;
  credential: string;
  disks: TestDisk[];
}

async function enrolled(sizes: Record<string, number>): Promise<Enrolled> {
  const t = await call(createEnrollmentToken, {
    path: 'sites/lab/enrollment-tokens',
    params: { id: 'lab' },
    body: {},
  });
  const disks = Object.entries(sizes).map(([id, sizeBytes]) => ({
    id,
    sizeBytes,
    logicalSectorSize: 512,
  }));
  const r = await call(enroll, {
    path: 'enroll',
    body: { token: t.json.token, hostname: 'h', os: 'linux', disks },
  });
  expect(r.status).toBe(201);
  const { machineId, credential, dataKey } = r.json;
  const p = await call(protect, {
    path: `machines/${machineId}/protect`,
    params: { id: machineId },
    body: {},
  });
  expect(p.status).toBeLessThan(300);
  const m = { machineId, keyId: dataKey.keyId, key: Buffer.from(dataKey.key, 'base64') };
  return {
    machineId,
    credential,
    disks: Object.entries(sizes).map(([id, size]) => new TestDisk(m, id, size)),
  };
}

const ctx = (triggerMetadata: Record<string, unknown>) =>
  new InvocationContext({ triggerMetadata, logHandler: () => {} });

async function deliver(machineId: string, bodies: unknown[]) {
  await ingestHandler(bodies, ctx({ partitionKeyArray: bodies.map(() => machineId) }));
}

async function hydrate(d: TestDisk, seq = d.seq) {
  await hydrateHandler(
    null,
    ctx({ name: stagingBlobName(d.machine.machineId, d.diskId, d.generation, seq) }),
  );
}

beforeAll(async () => {
  root = testRoot();
  expect((await call(createSite, { path: 'sites', body: { name: 'lab' } })).status).toBe(201);
});

describe('replication functions (ingest trigger → hydrate trigger → recovery-point routes)', () => {
  it('replicates two disks, publishes the point, serves it to the machine and the admin, restores exactly', async () => {
    const m = await enrolled({ sda: 2 * MiB, sdb: 1 * MiB + 512 * 3 });
    const [a, b] = m.disks as [TestDisk, TestDisk];
    // Inline envelope and a claim check in one trigger invocation.
    const big = a.batch([data(0, 1536 * 1024), zero(1536 * 1024, 64 * 1024)]);
    await root.replication.deps.blobs.ensureContainer(incomingContainerOf(m.machineId));
    await root.replication.deps.blobs.putBlockBlob(
      incomingContainerOf(m.machineId),
      claimBlobPath(peekHeader(big)),
      big,
    );
    const ref = makeBatchRef(peekHeader(big), big); // the host hands parsed JSON bodies over as objects
    await deliver(m.machineId, [ref, b.batch([data(512, 4096)])]);
    await hydrate(a, 1);
    await hydrate(b, 1);
    const t = new Date(Date.now() - 3000).toISOString();
    await deliver(m.machineId, [
      a.batch([data(4096, 512)], bookmark('bk-1', t)),
      b.batch([], bookmark('bk-1', t)),
    ]);
    const at = {
      params: { id: m.machineId, pointId: 'bk-1' },
      path: `machines/${m.machineId}/agent/recovery-points/bk-1`,
    };
    // Both disks' bookmarks are stored: the point is durable before anything hydrates it.
    const durable = await call(agentGetPoint, { ...at, headers: bearer(m.credential) });
    expect(durable.json).toMatchObject({ id: 'bk-1', durable: true, materialized: false });
    await hydrate(a);
    expect(
      (await call(agentGetPoint, { ...at, headers: bearer(m.credential) })).json,
    ).toMatchObject({
      materialized: false,
    });
    await hydrate(b);

    const list = await call(agentListPoints, {
      path: `machines/${m.machineId}/agent/recovery-points`,
      params: { id: m.machineId },
      headers: bearer(m.credential),
    });
    expect(list.status).toBe(200);
    expect(list.json.items.map((p: { id: string }) => p.id)).toEqual(['bk-1']);
    // An admin route: the host checks the function key before the app runs.
    const point = await call(getPoint, at);
    expect(point.status).toBe(200);
    expect(point.json).toMatchObject({
      id: 'bk-1',
      machineId: m.machineId,
      time: t,
      consistency: 'crash',
      generation: 1,
      durableAt: durable.json.durableAt,
      materialized: true,
    });
    for (const d of [a, b]) {
      expect(point.json.disks.find((x: { diskId: string }) => x.diskId === d.diskId).sha256).toBe(
        d.digest(),
      );
      const link = await call(agentPointReadUrl, {
        path: `${at.path}/disks/${d.diskId}/read-url`,
        params: { ...at.params, diskId: d.diskId },
        headers: bearer(m.credential),
      });
      expect(link.status).toBe(200);
      expect(link.json.sizeBytes).toBe(d.size);
      const bytes = Buffer.from(await (await fetch(link.json.url)).arrayBuffer());
      expect(bytes.subarray(0, d.size).equals(d.image)).toBe(true);
    }

    const health = await call(getMachine, {
      path: `machines/${m.machineId}`,
      params: { id: m.machineId },
    });
    expect(health.json.health).toMatchObject({ lastPoint: { id: 'bk-1', at: t }, backlogBytes: 0 });
    expect(health.json.health.rpoSeconds).toBeGreaterThanOrEqual(3);
    await retentionHandler(
      {
        isPastDue: false,
        schedule: { adjustForDST: false },
        scheduleStatus: { last: '', next: '', lastUpdated: '' },
      },
      ctx({}),
    );
    expect(
      (
        await call(agentListPoints, {
          path: 'x',
          params: { id: m.machineId },
          headers: bearer(m.credential),
        })
      ).json.items,
    ).toHaveLength(1);
  });

  it('only the machine or an admin reads points; bad events never throw and are recorded', async () => {
    const m = await enrolled({ sda: 1 * MiB });
    const other = await enrolled({ sda: 1 * MiB });
    const at = {
      path: `machines/${m.machineId}/agent/recovery-points`,
      params: { id: m.machineId },
    };
    expectProblem(await call(agentListPoints, at), 401, 'unauthenticated');
    expectProblem(
      await call(agentListPoints, { ...at, headers: bearer(other.credential) }),
      403,
      'forbidden',
    );
    // The operator's routes are admin routes: the host checks the function key, as for every
    // other admin route (the app has no admin key of its own to accept).
    for (const h of [listPoints, getPoint]) expect(operationOf.get(h)?.caller).toBe('admin');
    for (const h of [agentListPoints, agentGetPoint, agentPointReadUrl])
      expect(operationOf.get(h)).toMatchObject({ caller: 'machine', route: /\/agent\// });
    expect((await call(listPoints, { ...at, params: { id: m.machineId } })).status).toBe(200);
    // Another machine's batch on our partition, garbage, an empty object: recorded, no throw.
    await deliver(m.machineId, [other.disks[0]!.batch([data(0, 512)]), Buffer.from('garbage'), {}]);
    const rejections = await root.replication.deps.docs.rejections.query({
      partitionKey: m.machineId,
    });
    expect(rejections.items).toHaveLength(3);
    const health = await call(getMachine, {
      path: `machines/${m.machineId}`,
      params: { id: m.machineId },
    });
    expect(health.json.health.errors.length).toBe(3);
    // A stray blob in staging is ignored, not retried into the poison queue.
    await expect(hydrateHandler(null, ctx({ name: 'not/a/batch' }))).resolves.toBeUndefined();
  });
});
