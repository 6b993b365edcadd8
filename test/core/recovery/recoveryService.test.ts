import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryDocumentStore } from '../../../adapters/documents/memoryDocumentStore';
import { MemoryBlobStore } from '../../../adapters/blobs/memoryBlobStore';
import { createControlPlane } from '../../../core/controlPlane/controlPlane';
import { collectionsDefs, type JobDoc, type MachineDoc } from '../../../core/controlPlane/model';
import { AesKeyWrapper } from '../../../core/controlPlane/machineKeys';
import type { ProtectedItemState } from '../../../core/controlPlane/protectedItemState';
import { transient } from '../../../core/errors';
import { createRecovery } from '../../../core/recovery';
import { RecoveryJob } from '../../../core/recovery/operations';
import { applyRecordChange } from '../../../core/recovery/recordChanges';
import { replicationCollectionsOf, type RecoveryPointDoc } from '../../../core/replication/state';
import type { ReplicationDeps } from '../../../core/replication/ports';

const M = 'm-1';
const MiB = 2 ** 20;

async function setup(state: ProtectedItemState = 'protected') {
  const documents = new MemoryDocumentStore();
  let now = Date.parse('2030-01-01T00:00:00Z');
  const clock = () => (now += 1000);
  const started: { job: JobDoc; input: Record<string, unknown> }[] = [];
  // The saga marks its job running as it starts (its first activity).
  const launcher = {
    start: async (job: JobDoc, input: Record<string, unknown>) => {
      started.push({ job, input });
      await cp.jobs.update(job.id, { state: 'running' });
    },
  };
  const cp = createControlPlane({
    documents,
    clock,
    keyWrapper: new AesKeyWrapper(randomBytes(32)),
    ingest: { issue: async () => Promise.reject(transient('no')) },
    probes: [],
  });
  const machine: MachineDoc = {
    id: M,
    siteId: 's',
    hostname: 'web01',
    os: 'linux',
    enrolledAt: new Date(now).toISOString(),
    credentialHash: 'x',
    keyId: 'k1',
  };
  await documents.collection<MachineDoc>(collectionsDefs.machines).create(machine);
  await cp.machines.addDisk(M, { id: 'sda', sizeBytes: 8 * MiB, logicalSectorSize: 512 });
  await cp.protectedItems.create({
    id: M,
    machineId: M,
    siteId: 's',
    state,
    disks: ['sda'],
    policy: 'default',
    jobId: 'job-x',
    createdAt: new Date(now).toISOString(),
    updatedAt: new Date(now).toISOString(),
    history: [],
  });
  const docs = replicationCollectionsOf(documents);
  const replication: ReplicationDeps = {
    blobs: new MemoryBlobStore(),
    events: { written: async () => undefined },
    docs,
    machines: { getMachine: async () => undefined, listMachineIds: async () => [] },
    keys: { getDataKey: async () => Buffer.alloc(32) },
    clock,
  };
  const point = async (id: string, time: string, extra: Partial<RecoveryPointDoc> = {}) =>
    docs.points.create({
      id,
      type: 'point',
      machineId: M,
      time,
      consistency: 'crash',
      generation: 1,
      disks: [],
      publishedAt: time,
      ...extra,
    } as RecoveryPointDoc);
  const recovery = createRecovery({
    documents,
    machines: cp.machines,
    items: cp.protectedItems,
    jobs: cp.jobs,
    groups: cp.groups,
    replication,
    defaults: { resourceGroup: 'rg', location: 'local' },
    clock,
  });
  return { cp, recovery, started, launcher, point, docs };
}

describe('recovery service: starting recovery jobs', () => {
  it('test failover: a job with steps, the saga started with the settings, one at a time', async () => {
    const { recovery, started, launcher, point, cp } = await setup();
    await point('p1', '2030-01-01T00:00:00Z');
    const r = await recovery.service.start(RecoveryJob.testFailover, M, {}, { launcher });
    expect(r.created).toBe(true);
    expect(r.job).toMatchObject({ type: 'test-failover', machineId: M, startedBy: 'admin' });
    expect(r.job.steps!.map((s) => s.name)).toContain('disk-import');
    expect(started[0]!.input).toMatchObject({
      machineId: M,
      choice: 'latest',
      disks: [{ diskId: 'sda', os: true }],
      settings: { resourceGroup: 'rg', osDisk: 'sda' },
    });
    expect((await recovery.records.get(M)).test).toMatchObject({
      jobId: r.job.id,
      state: 'starting',
    });
    // The lifecycle state does not change for a test.
    expect((await cp.protectedItems.get(M)).doc.state).toBe('protected');
    await expect(
      recovery.service.start(RecoveryJob.testFailover, M, {}, { launcher }),
    ).rejects.toMatchObject({
      kind: 'conflict',
    });
    expect(started).toHaveLength(1);
  });

  it('refusals change nothing: unknown point, a point still being cut, no point, wrong state', async () => {
    const { recovery, started, launcher, point, docs, cp } = await setup();
    const before = (await cp.jobs.list()).items.length;
    await expect(
      recovery.service.start(RecoveryJob.failover, M, {}, { launcher }),
    ).rejects.toMatchObject({
      kind: 'conflict', // no point yet
    });
    await point('p1', '2030-01-01T00:00:00Z');
    await expect(
      recovery.service.start(RecoveryJob.failover, M, { point: 'nope' }, { launcher }),
    ).rejects.toMatchObject({ kind: 'not-found' });
    await docs.points.create({
      id: 'piece:p2:sda',
      type: 'piece',
      machineId: M,
      pointId: 'p2',
    } as never);
    await expect(
      recovery.service.start(RecoveryJob.failover, M, { point: 'p2' }, { launcher }),
    ).rejects.toMatchObject({ kind: 'conflict', details: { pointId: 'p2' } });
    for (const op of [RecoveryJob.commit, RecoveryJob.cancel, RecoveryJob.testFailoverCleanup])
      await expect(recovery.service.start(op, M, {}, { launcher })).rejects.toMatchObject({
        kind: 'conflict',
      });
    await expect(
      recovery.service.start(RecoveryJob.changePoint, M, { point: 'p1' }, { launcher }),
    ).rejects.toMatchObject({ kind: 'conflict' });
    expect(started).toHaveLength(0);
    expect((await cp.jobs.list()).items.length).toBe(before);
    expect((await cp.protectedItems.get(M)).doc.state).toBe('protected');
    expect(await recovery.records.get(M)).not.toHaveProperty('failover');
  });

  it('failover claims the item (never twice); change point, commit, cancel follow the lifecycle', async () => {
    const { recovery, started, launcher, point, cp } = await setup();
    await point('p1', '2030-01-01T00:00:00Z');
    await point('p2', '2030-01-01T00:00:05Z');
    const f = await recovery.service.start(RecoveryJob.failover, M, { point: 'p1' }, { launcher });
    expect((await cp.protectedItems.get(M)).doc.state).toBe('failing-over');
    await expect(
      recovery.service.start(RecoveryJob.failover, M, {}, { launcher }),
    ).rejects.toMatchObject({
      kind: 'conflict',
    });
    // The saga's end, as its activities would record it.
    await recovery.records.mutate(M, (r) =>
      applyRecordChange(r, {
        kind: 'failover-ready',
        jobId: f.job.id,
        vm: { pointId: 'p1' } as never,
      }),
    );
    await cp.protectedItems.transition(M, 'failed-over', { from: ['failing-over'] });
    await expect(
      recovery.service.start(RecoveryJob.changePoint, M, { point: 'p1' }, { launcher }),
    ).rejects.toMatchObject({ kind: 'conflict' }); // already on p1
    const c = await recovery.service.start(
      RecoveryJob.changePoint,
      M,
      { point: 'p2' },
      { launcher },
    );
    expect((await cp.protectedItems.get(M)).doc.state).toBe('failing-over');
    expect((await recovery.records.get(M)).failover).toMatchObject({
      busyJobId: c.job.id,
      busyKind: 'change-point',
    });
    await recovery.records.mutate(M, (r) =>
      applyRecordChange(r, { kind: 'release', jobId: c.job.id }),
    );
    await cp.protectedItems.transition(M, 'failed-over', { from: ['failing-over'] });
    const k = await recovery.service.start(RecoveryJob.commit, M, {}, { launcher });
    await expect(
      recovery.service.start(RecoveryJob.cancel, M, {}, { launcher }),
    ).rejects.toMatchObject({
      kind: 'conflict', // commit is acting on it
    });
    expect(started.map((s) => s.job.type)).toEqual([
      'failover',
      'change-recovery-point',
      'commit-failover',
    ]);
    expect(k.job.type).toBe('commit-failover');
  });

  it('a job whose start failed (Durable down) is started by the next request, not refused', async () => {
    const { recovery, started, point, cp } = await setup();
    await point('p1', '2030-01-01T00:00:00Z');
    const down = {
      start: async () => Promise.reject(transient('Durable Functions is unavailable.')),
    };
    await expect(
      recovery.service.start(RecoveryJob.failover, M, {}, { launcher: down }),
    ).rejects.toMatchObject({
      kind: 'transient',
    });
    expect((await cp.protectedItems.get(M)).doc.state).toBe('failing-over');
    const up = {
      start: async (job: JobDoc, input: Record<string, unknown>) =>
        void started.push({ job, input }),
    };
    const again = await recovery.service.start(RecoveryJob.failover, M, {}, { launcher: up });
    expect(again.created).toBe(false);
    expect(started.map((s) => s.job.id)).toEqual([again.job.id]);
    expect(started[0]!.input).toMatchObject({
      machineId: M,
      choice: 'latest',
      settings: { osDisk: 'sda' },
    });
  });

  it('Idempotency-Key: same key and body → the same job; another body → 409', async () => {
    const { recovery, started, launcher, point } = await setup();
    await point('p1', '2030-01-01T00:00:00Z');
    const a = await recovery.service.start(
      RecoveryJob.failover,
      M,
      { point: 'p1' },
      { launcher, idempotencyKey: 'k1' },
    );
    const b = await recovery.service.start(
      RecoveryJob.failover,
      M,
      { point: 'p1' },
      { launcher, idempotencyKey: 'k1' },
    );
    expect(b).toMatchObject({ created: false, job: { id: a.job.id } });
    await expect(
      recovery.service.start(
        RecoveryJob.failover,
        M,
        { point: 'latest' },
        { launcher, idempotencyKey: 'k1' },
      ),
    ).rejects.toMatchObject({ kind: 'conflict' });
    // A job still queued is started again (the launcher is idempotent: instance id = job id).
    expect(new Set(started.map((s) => s.job.id))).toEqual(new Set([a.job.id]));
  });

  it("settings follow the agent's reported IPv4: the failover subnet keeps its address", async () => {
    const { recovery, cp, started, launcher, point } = await setup();
    await cp.machines.heartbeat(M, {
      agentVersion: '1',
      disks: [],
      ipv4: ['172.16.4.20', '10.0.0.1'],
    });
    const v = await recovery.settings.get(M);
    expect(v.settings.failoverNetwork.addressPrefix).toBe('172.16.4.0/24');
    await point('p1', '2030-01-01T00:00:00Z');
    await recovery.service.start(RecoveryJob.failover, M, {}, { launcher });
    expect(started[0]!.input).toMatchObject({ sourceIps: ['172.16.4.20', '10.0.0.1'] });
  });

  it('settings: defaults, PUT with If-Match, validation', async () => {
    const { recovery } = await setup();
    const v = await recovery.settings.get(M);
    expect(v).toMatchObject({
      etag: 'new',
      settings: { osDisk: 'sda', resourceGroup: 'rg' },
      explicit: {},
    });
    const w = await recovery.settings.put(M, { vmSize: 'Standard_D2s_v3' }, 'new');
    expect(w.settings.vmSize).toBe('Standard_D2s_v3');
    await expect(recovery.settings.put(M, { vmSize: 'Standard_B1s' }, 'new')).rejects.toMatchObject(
      {
        kind: 'precondition',
      },
    );
    await expect(recovery.settings.put(M, { osDisk: 'sdz' }, w.etag)).rejects.toMatchObject({
      kind: 'validation',
    });
    expect((await recovery.settings.get(M)).settings.vmSize).toBe('Standard_D2s_v3');
  });
});
