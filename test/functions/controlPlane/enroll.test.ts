import { beforeAll, describe, expect, it } from 'vitest';
import type { Root } from '../../../app/root';
import { MAX_DISKS_PER_MACHINE, type DiskFacts } from '../../../core/controlPlane/schemas';
import { createEnrollmentToken, createSite } from '../../../functions/controlPlane/sites';
import { enroll } from '../../../functions/controlPlane/enrollment';
import { addDisk, heartbeat, listDisks } from '../../../functions/controlPlane/agent';
import { getMachine } from '../../../functions/controlPlane/machines';
import {
  bearer,
  call,
  enrollInto,
  expectProblem,
  requestIngestToken,
  storeSnapshot,
  testRoot,
  tokenFor,
} from './support';

let root: Root;
let skew = 0;
const disks: DiskFacts[] = [
  { id: 'sda', sizeBytes: 8 * 1024 * 1024, logicalSectorSize: 512 },
  { id: 'sdb', sizeBytes: 1024 * 1024, logicalSectorSize: 4096 },
];

const newToken = () => tokenFor('lab');
const enrolled = () => enrollInto('lab', { hostname: 'db1', disks });

beforeAll(async () => {
  root = testRoot({}, () => Date.now() + skew);
  expect((await call(createSite, { path: 'sites', body: { name: 'lab' } })).status).toBe(201);
});

describe('enrollment flow', () => {
  it('token → enroll → credential works, data key is stored wrapped and retrievable', async () => {
    const token = await newToken();
    expect(token).toMatch(/^hvt\.t-[a-f0-9]+\.[A-Za-z0-9_-]{43}$/);
    const r = await call(enroll, {
      path: 'enroll',
      body: { token, hostname: 'web1', os: 'ubuntu 24.04', agentVersion: '0.1.0', disks },
    });
    expect(r.status).toBe(201);
    const { machineId, credential, dataKey, siteId } = r.json;
    expect(siteId).toBe('lab');
    expect(credential).toMatch(new RegExp(`^hvm\\.${machineId}\\.[A-Za-z0-9_-]{43}$`));
    expect(Buffer.from(dataKey.key, 'base64')).toHaveLength(32);
    const key = await root.controlPlane.machineKeys.getDataKey(machineId, dataKey.keyId);
    expect(key.toString('base64')).toBe(dataKey.key);
    // Only hashes and wrapped keys at rest.
    const snapshot = JSON.stringify(
      await Promise.all(
        ['machines', 'dataKeys', 'enrollmentTokens'].map((name) =>
          root.documents
            .collection({ name, partitionKey: name === 'dataKeys' ? 'machineId' : 'id' })
            .query({ limit: 1000 }),
        ),
      ),
    );
    expect(snapshot).not.toContain(credential.split('.')[2]);
    expect(snapshot).not.toContain(dataKey.key);
    expect(snapshot).not.toContain(token.split('.')[2]);

    const m = await call(getMachine, { path: `machines/${machineId}`, params: { id: machineId } });
    expect(m.status).toBe(200);
    expect(m.headers.etag).toBeTruthy();
    expect(m.json).toMatchObject({
      id: machineId,
      siteId: 'lab',
      hostname: 'web1',
      os: 'ubuntu 24.04',
      agentVersion: '0.1.0',
      heartbeat: null,
      protection: null,
    });
    expect(m.json.disks.map((d: { id: string }) => d.id).sort()).toEqual(['sda', 'sdb']);
    expect(m.json.health).toEqual({
      rpoSeconds: null,
      churnBytesPerSecond: null,
      backlogBytes: null,
      lastPoint: null,
      errors: [],
      updatedAt: null,
    });
    expect(JSON.stringify(m.json)).not.toContain('credentialHash');

    const hb = await call(heartbeat, {
      path: `machines/${machineId}/heartbeat`,
      params: { id: machineId },
      headers: bearer(credential),
      body: {
        agentVersion: '0.1.1',
        disks: [{ id: 'sda', state: 'replicating', backlogBytes: 4096 }],
      },
    });
    expect(hb.status).toBe(200);
    expect(hb.json.protection).toBeNull();
    const after = await call(getMachine, {
      path: `machines/${machineId}`,
      params: { id: machineId },
    });
    expect(after.json.agentVersion).toBe('0.1.1');
    expect(after.json.heartbeat.disks).toEqual([
      { id: 'sda', state: 'replicating', backlogBytes: 4096 },
    ]);
    expect(after.json.lastHeartbeatAt).toBe(hb.json.receivedAt);
  });

  it('adds and lists disks with the machine credential; same facts are idempotent, a new size resyncs, other facts 409', async () => {
    const { machineId, credential } = await enrolled();
    const at = {
      params: { id: machineId },
      path: `machines/${machineId}/disks`,
      headers: bearer(credential),
    };
    const added = await call(addDisk, {
      ...at,
      body: { id: 'nvme0', sizeBytes: 512 * 100, logicalSectorSize: 512 },
    });
    expect(added.status).toBe(201);
    expect(
      (
        await call(addDisk, {
          ...at,
          body: { id: 'nvme0', sizeBytes: 512 * 100, logicalSectorSize: 512 },
        })
      ).status,
    ).toBe(200);
    // A new size is a resync (core/controlPlane/resyncs.ts): same disk, next generation.
    const resized = await call(addDisk, {
      ...at,
      body: { id: 'nvme0', sizeBytes: 512 * 200, logicalSectorSize: 512 },
    });
    expect(resized.status).toBe(200);
    expect(resized.json).toMatchObject({ id: 'nvme0', sizeBytes: 512 * 200, generation: 2 });
    const before = await storeSnapshot(root);
    const refused: [unknown, number, string][] = [
      [{ id: 'nvme0', sizeBytes: 512 * 200, logicalSectorSize: 4096 }, 409, 'conflict'],
      [{ id: 'nvme1', sizeBytes: 1000, logicalSectorSize: 512 }, 400, 'validation'],
      // Larger than a page blob holds (8 TiB less the replica's footer room), or not whole sectors.
      [{ id: 'nvme1', sizeBytes: 8 * 1024 ** 4, logicalSectorSize: 512 }, 400, 'validation'],
      [{ id: 'nvme1', sizeBytes: 4096 + 512, logicalSectorSize: 4096 }, 400, 'validation'],
      [{ id: 'bad/id', sizeBytes: 512, logicalSectorSize: 512 }, 400, 'validation'],
    ];
    for (const [body, status, kind] of refused)
      expectProblem(await call(addDisk, { ...at, body }), status, kind);
    expect(await storeSnapshot(root)).toEqual(before);
    const list = await call(listDisks, { ...at, body: undefined });
    expect(list.json.items.map((d: { id: string }) => d.id).sort()).toEqual([
      'nvme0',
      'sda',
      'sdb',
    ]);
  });

  it('a machine registers at most MAX_DISKS_PER_MACHINE disks: one more is a 409, a known one still answers', async () => {
    const many = Array.from({ length: MAX_DISKS_PER_MACHINE }, (_, i) => ({
      id: `d${i}`,
      sizeBytes: 4096,
      logicalSectorSize: 512 as const,
    }));
    const { machineId, credential } = await enrollInto('lab', { hostname: 'wide', disks: many });
    const at = {
      params: { id: machineId },
      path: `machines/${machineId}/disks`,
      headers: bearer(credential),
    };
    const before = await storeSnapshot(root);
    const extra = { id: 'one-more', sizeBytes: 4096, logicalSectorSize: 512 };
    expectProblem(await call(addDisk, { ...at, body: extra }), 409, 'conflict');
    expect(await storeSnapshot(root)).toEqual(before);
    expect((await call(addDisk, { ...at, body: many[0] })).status).toBe(200);
  });

  it('issues ingest credentials scoped to the machine', async () => {
    const { machineId, credential } = await enrolled();
    const r = await requestIngestToken(machineId, credential);
    expect(r.status).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    const eh = r.json.eventHubs;
    expect(eh.useDevelopmentEmulator).toBeUndefined();
    expect(eh.resourceUri).toBe(
      `sb://haven-test.servicebus.windows.net/haven-batches/publishers/${machineId}`,
    );
    expect(eh.sasToken).toMatch(/^SharedAccessSignature sr=[^&]+&sig=[^&]+&se=\d+&skn=send$/);
    expect(decodeURIComponent(/sr=([^&]+)/.exec(eh.sasToken)![1]!)).toBe(eh.resourceUri);
    expect(r.json.blob).toMatchObject({
      container: `in-${machineId}`,
      prefix: `${machineId}/`,
      permissions: 'cw',
    });
    expect(r.json.blob.sas).toMatch(/sp=cw/);
    expect(Date.parse(r.json.blob.expiresAt) - Date.now()).toBeLessThanOrEqual(
      15 * 60 * 1000 + skew + 1000,
    );
  });
});

describe('enrollment refusals change nothing', () => {
  it('a reused token is refused, and two concurrent enrollments cannot both win', async () => {
    const token = await newToken();
    const body = { token, hostname: 'h', os: 'linux', disks };
    const results = await Promise.all([1, 2, 3].map(() => call(enroll, { path: 'enroll', body })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 201))
      expectProblem(r, 401, 'unauthenticated');
    const before = await storeSnapshot(root);
    expectProblem(await call(enroll, { path: 'enroll', body }), 401, 'unauthenticated');
    expect(await storeSnapshot(root)).toEqual(before);
  });

  it('an expired token is refused', async () => {
    const r = await call(createEnrollmentToken, {
      path: 'sites/lab/enrollment-tokens',
      params: { id: 'lab' },
      body: { ttlSeconds: 60 },
    });
    const before = await storeSnapshot(root);
    expect(before.filter((x) => x.startsWith(`enrollmentTokens/${r.json.id}@`))).toHaveLength(1);
    skew += 61_000;
    try {
      expectProblem(
        await call(enroll, {
          path: 'enroll',
          body: { token: r.json.token, hostname: 'h', os: 'linux' },
        }),
        401,
        'unauthenticated',
      );
    } finally {
      skew -= 61_000;
    }
    expect(await storeSnapshot(root)).toEqual(before);
  });

  it('a token with a wrong secret or a garbage token is refused', async () => {
    const token = await newToken();
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const before = await storeSnapshot(root);
    for (const t of [forged, 'hvt.nope.x', 'not-a-token']) {
      expectProblem(
        await call(enroll, { path: 'enroll', body: { token: t, hostname: 'h', os: 'linux' } }),
        401,
        'unauthenticated',
      );
    }
    expect(await storeSnapshot(root)).toEqual(before);
    // The real token is still usable afterwards.
    expect(
      (await call(enroll, { path: 'enroll', body: { token, hostname: 'h', os: 'linux' } })).status,
    ).toBe(201);
  });

  it('a token for an unknown site cannot be issued', async () => {
    const before = await storeSnapshot(root);
    expectProblem(
      await call(createEnrollmentToken, {
        path: 'sites/nowhere/enrollment-tokens',
        params: { id: 'nowhere' },
        body: {},
      }),
      404,
      'not-found',
    );
    expect(await storeSnapshot(root)).toEqual(before);
  });

  it('bad bodies: malformed JSON, unknown fields, wrong types, bad disk facts, oversized', async () => {
    const token = await newToken();
    const before = await storeSnapshot(root);
    const cases: [unknown, number, string][] = [
      ['{"token": ', 400, 'validation'],
      [{ token, hostname: 'h', os: 'linux', admin: true }, 400, 'validation'],
      [{ token, hostname: 42, os: 'linux' }, 400, 'validation'],
      [
        {
          token,
          hostname: 'h',
          os: 'linux',
          disks: [{ id: 'sda', sizeBytes: 1000, logicalSectorSize: 512 }],
        },
        400,
        'validation',
      ],
      [
        {
          token,
          hostname: 'h',
          os: 'linux',
          disks: [{ id: 'sda', sizeBytes: 1024, logicalSectorSize: 1024 }],
        },
        400,
        'validation',
      ],
      [
        {
          token,
          hostname: 'h',
          os: 'linux',
          disks: [{ id: 'sda', sizeBytes: 2 ** 50, logicalSectorSize: 512 }],
        },
        400,
        'validation',
      ],
      [{ token, hostname: 'h', os: 'linux', disks: [disks[0], disks[0]] }, 400, 'validation'],
      [{ token, hostname: 'h'.repeat(5000), os: 'linux' }, 413, 'too-large'],
      ['[]', 400, 'validation'],
    ];
    for (const [body, status, kind] of cases) {
      const r = await call(enroll, { path: 'enroll', body });
      expectProblem(r, status, kind);
      expect(JSON.stringify(r.json)).not.toContain(token.split('.')[2]);
    }
    const unknownField = await call(enroll, {
      path: 'enroll',
      body: { token, hostname: 'h', os: 'linux', admin: true },
    });
    expect(unknownField.json.errors[0]).toMatchObject({ code: 'unrecognized_keys' });
    const wrongType = await call(enroll, {
      path: 'enroll',
      body: { token, hostname: 42, os: 'linux' },
    });
    expect(wrongType.json.errors[0]).toMatchObject({ path: 'hostname' });
    expect(await storeSnapshot(root)).toEqual(before);
    // None of that consumed the token.
    expect(
      (await call(enroll, { path: 'enroll', body: { token, hostname: 'h', os: 'linux' } })).status,
    ).toBe(201);
  });
});

describe('machine credential checks', () => {
  it('missing, malformed, wrong or foreign credentials are refused and nothing is written', async () => {
    const a = await enrolled();
    const b = await enrolled();
    const before = await storeSnapshot(root);
    const hb = { agentVersion: '1', disks: [] };
    const at = (headers: Record<string, string>) => ({
      path: `machines/${a.machineId}/heartbeat`,
      params: { id: a.machineId },
      headers,
      body: hb,
    });
    const wrongSecret = `hvm.${a.machineId}.${'A'.repeat(43)}`;
    expectProblem(await call(heartbeat, at({})), 401, 'unauthenticated');
    expectProblem(
      await call(heartbeat, at({ authorization: 'Basic abc' })),
      401,
      'unauthenticated',
    );
    expectProblem(await call(heartbeat, at(bearer(wrongSecret))), 401, 'unauthenticated');
    expectProblem(
      await call(heartbeat, at(bearer(`hvm.m-unknown.${'A'.repeat(43)}`))),
      401,
      'unauthenticated',
    );
    expectProblem(await call(heartbeat, at(bearer(b.credential))), 403, 'forbidden');
    expectProblem(
      await call(addDisk, {
        path: `machines/${a.machineId}/disks`,
        params: { id: a.machineId },
        headers: bearer(b.credential),
        body: { id: 'x', sizeBytes: 512, logicalSectorSize: 512 },
      }),
      403,
      'forbidden',
    );
    expectProblem(await requestIngestToken(a.machineId, wrongSecret), 401, 'unauthenticated');
    // Credential check comes before body parsing: a foreign caller learns nothing from errors.
    expectProblem(
      await call(heartbeat, { ...at(bearer(b.credential)), body: '{bad' }),
      403,
      'forbidden',
    );
    expect(await storeSnapshot(root)).toEqual(before);
  });

  it('unknown data keys are not-found', async () => {
    const a = await enrolled();
    await expect(
      root.controlPlane.machineKeys.getDataKey(a.machineId, 'k-nope'),
    ).rejects.toMatchObject({ kind: 'not-found' });
    const b = await enrolled();
    await expect(
      root.controlPlane.machineKeys.getDataKey(b.machineId, a.dataKey.keyId),
    ).rejects.toMatchObject({ kind: 'not-found' });
  });
});

describe('dependencies missing', () => {
  it('ingest-token without Event Hubs config is 503, enrollment without a KEK is 503 and consumes nothing', async () => {
    const { machineId, credential } = await enrolled();
    const bare = testRoot({ eventHubs: undefined, kek: undefined, cosmos: root.config.cosmos });
    try {
      const r = await requestIngestToken(machineId, credential);
      expectProblem(r, 503, 'transient');
      expect(r.headers['retry-after']).toBeTruthy();
      const token = (await bare.controlPlane.enrollment.issueToken('lab', { ttlSeconds: 600 }))
        .token;
      const before = await storeSnapshot(bare);
      expectProblem(
        await call(enroll, { path: 'enroll', body: { token, hostname: 'h', os: 'linux' } }),
        503,
        'transient',
      );
      expect(await storeSnapshot(bare)).toEqual(before);
    } finally {
      testRoot({}, () => Date.now() + skew); // back to a fully configured root for other tests
    }
  });
});
