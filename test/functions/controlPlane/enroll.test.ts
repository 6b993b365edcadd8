import { describe, expect, it } from 'vitest';
import { MAX_DISKS_PER_MACHINE } from '../../../core/controlPlane/schemas';
import { enroll } from '../../../functions/controlPlane/enrollment';
import { addDisk, heartbeat, listDisks } from '../../../functions/controlPlane/agent';
import { getMachine } from '../../../functions/controlPlane/machines';
import {
  bearer,
  call,
  enrollInto,
  expectProblem,
  LAB_DISKS,
  requestIngestToken,
  storeSnapshot,
  useLab,
} from './support';

const lab = useLab();

describe('enrollment flow', () => {
  it('token → enroll → credential works, data key is stored wrapped and retrievable', async () => {
    const token = await lab.newToken();
    expect(token).toMatch(/^hvt\.t-[a-f0-9]+\.[A-Za-z0-9_-]{43}$/);
    const r = await call(enroll, {
      path: 'enroll',
      body: {
        token,
        hostname: 'web1',
        os: 'ubuntu 24.04',
        agentVersion: '0.1.0',
        disks: LAB_DISKS,
      },
    });
    expect(r.status).toBe(201);
    const { machineId, credential, dataKey, siteId } = r.json;
    expect(siteId).toBe('lab');
    expect(credential).toMatch(new RegExp(`^hvm\\.${machineId}\\.[A-Za-z0-9_-]{43}$`));
    expect(Buffer.from(dataKey.key, 'base64')).toHaveLength(32);
    const key = await lab.root.controlPlane.machineKeys.getDataKey(machineId, dataKey.keyId);
    expect(key.toString('base64')).toBe(dataKey.key);
    // Only hashes and wrapped keys at rest.
    const snapshot = JSON.stringify(
      await Promise.all(
        ['machines', 'dataKeys', 'enrollmentTokens'].map((name) =>
          lab.root.documents
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
    const { machineId, credential } = await lab.enrolled();
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
    const before = await storeSnapshot(lab.root);
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
    expect(await storeSnapshot(lab.root)).toEqual(before);
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
    const before = await storeSnapshot(lab.root);
    const extra = { id: 'one-more', sizeBytes: 4096, logicalSectorSize: 512 };
    expectProblem(await call(addDisk, { ...at, body: extra }), 409, 'conflict');
    expect(await storeSnapshot(lab.root)).toEqual(before);
    expect((await call(addDisk, { ...at, body: many[0] })).status).toBe(200);
  });

  it('issues ingest credentials scoped to the machine', async () => {
    const { machineId, credential } = await lab.enrolled();
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
      15 * 60 * 1000 + lab.skew + 1000,
    );
  });
});
