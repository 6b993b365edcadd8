import { describe, expect, it } from 'vitest';
import { createEnrollmentToken } from '../../../functions/controlPlane/sites';
import { enroll } from '../../../functions/controlPlane/enrollment';
import {
  call,
  expectProblem,
  LAB_DISKS,
  requestIngestToken,
  storeSnapshot,
  testRoot,
  useLab,
} from './support';

const lab = useLab();

describe('enrollment refusals change nothing', () => {
  it('a reused token is refused, and two concurrent enrollments cannot both win', async () => {
    const token = await lab.newToken();
    const body = { token, hostname: 'h', os: 'linux', disks: LAB_DISKS };
    const results = await Promise.all([1, 2, 3].map(() => call(enroll, { path: 'enroll', body })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 201))
      expectProblem(r, 401, 'unauthenticated');
    const before = await storeSnapshot(lab.root);
    expectProblem(await call(enroll, { path: 'enroll', body }), 401, 'unauthenticated');
    expect(await storeSnapshot(lab.root)).toEqual(before);
  });

  it('an expired token is refused', async () => {
    const r = await call(createEnrollmentToken, {
      path: 'sites/lab/enrollment-tokens',
      params: { id: 'lab' },
      body: { ttlSeconds: 60 },
    });
    const before = await storeSnapshot(lab.root);
    expect(before.filter((x) => x.startsWith(`enrollmentTokens/${r.json.id}@`))).toHaveLength(1);
    lab.skew += 61_000;
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
      lab.skew -= 61_000;
    }
    expect(await storeSnapshot(lab.root)).toEqual(before);
  });

  it('a token with a wrong secret or a garbage token is refused', async () => {
    const token = await lab.newToken();
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const before = await storeSnapshot(lab.root);
    for (const t of [forged, 'hvt.nope.x', 'not-a-token']) {
      expectProblem(
        await call(enroll, { path: 'enroll', body: { token: t, hostname: 'h', os: 'linux' } }),
        401,
        'unauthenticated',
      );
    }
    expect(await storeSnapshot(lab.root)).toEqual(before);
    // The real token is still usable afterwards.
    expect(
      (await call(enroll, { path: 'enroll', body: { token, hostname: 'h', os: 'linux' } })).status,
    ).toBe(201);
  });

  it('a token for an unknown site cannot be issued', async () => {
    const before = await storeSnapshot(lab.root);
    expectProblem(
      await call(createEnrollmentToken, {
        path: 'sites/nowhere/enrollment-tokens',
        params: { id: 'nowhere' },
        body: {},
      }),
      404,
      'not-found',
    );
    expect(await storeSnapshot(lab.root)).toEqual(before);
  });

  it('bad bodies: malformed JSON, unknown fields, wrong types, bad disk facts, oversized', async () => {
    const token = await lab.newToken();
    const before = await storeSnapshot(lab.root);
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
      [
        { token, hostname: 'h', os: 'linux', disks: [LAB_DISKS[0], LAB_DISKS[0]] },
        400,
        'validation',
      ],
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
    expect(await storeSnapshot(lab.root)).toEqual(before);
    // None of that consumed the token.
    expect(
      (await call(enroll, { path: 'enroll', body: { token, hostname: 'h', os: 'linux' } })).status,
    ).toBe(201);
  });
});

describe('dependencies missing', () => {
  it('ingest-token without Event Hubs config is 503, enrollment without a KEK is 503 and consumes nothing', async () => {
    const { machineId, credential } = await lab.enrolled();
    const bare = testRoot({ eventHubs: undefined, kek: undefined, cosmos: lab.root.config.cosmos });
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
      testRoot({}, () => Date.now() + lab.skew); // back to a fully configured root for other tests
    }
  });
});
