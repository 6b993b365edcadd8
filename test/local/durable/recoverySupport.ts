import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecoveryPointDoc } from '../../../core/replication/state';
import { REPLICAS, replicaBlobName, replicaBlobSize } from '../../../core/replication/names';
import { FileRecoveryTarget } from '../../support/fileRecoveryTarget';
import { api, finalJob, sagaEnv, spawnSagaHost, type HostChild, type SagaEnv } from './sagaSupport';

export const recoveryApp = join(__dirname, 'fixtures', 'recoveryApp.ts');

export interface RecoveryEnv extends SagaEnv {
  target: FileRecoveryTarget;
}

/**
 * A saga environment whose machine is `protected` with one materialized recovery point per id
 * in `points` (real replica page blobs and snapshots in Azurite, so base-blob copies are real).
 */
export async function recoveryEnv(points = ['p1']): Promise<RecoveryEnv> {
  const file = join(tmpdir(), `target-${process.pid}-${Date.now()}-${Math.random()}.json`);
  const env = await sagaEnv({ RECOVERY_TARGET_FILE: file, HAVEN_RECOVERY_RESOURCE_GROUP: 'rg-dr' });
  const { root, machineId } = env;
  const { blobs } = root.replication.deps;
  const now = new Date().toISOString();
  await root.controlPlane.protectedItems.create({
    id: machineId,
    machineId,
    siteId: 'main',
    state: 'protected',
    disks: ['sda', 'sdb'],
    policy: 'default',
    jobId: 'job-enable',
    createdAt: now,
    updatedAt: now,
    history: [],
  });
  await blobs.ensureContainer(REPLICAS);
  for (const d of Object.keys(SIZES))
    await blobs.createPageBlob(
      REPLICAS,
      replicaBlobName(machineId, d, 1),
      replicaBlobSize(SIZES[d]!),
    );
  const out = { ...env, target: new FileRecoveryTarget(file) };
  for (const id of points) await addPoint(out, id);
  return out;
}

const SIZES: Record<string, number> = { sda: 3 * 1024 * 1024, sdb: 1024 * 1024 + 512 };

/** A materialized point `id` (newest so far): one real snapshot per disk, its first sector marked. */
export async function addPoint(env: SagaEnv, id: string): Promise<void> {
  const { root, machineId } = env;
  const { blobs, docs } = root.replication.deps;
  const n = (await docs.points.query({ partitionKey: machineId, limit: 1000 })).items.length;
  const disks = [];
  for (const d of Object.keys(SIZES)) {
    const blob = replicaBlobName(machineId, d, 1);
    await blobs.uploadPages(REPLICAS, blob, 0, Buffer.alloc(512, n + 1));
    const snapshot = await blobs.createSnapshot(REPLICAS, blob);
    disks.push({
      diskId: d,
      generation: 1,
      seq: n + 1,
      blob,
      snapshot,
      sha256: 'x',
      sizeBytes: SIZES[d]!,
      changes: '',
      changedBlocks: 0,
    });
  }
  const time = new Date(Date.now() + n).toISOString();
  await docs.points.create({
    id,
    type: 'point',
    machineId,
    time,
    consistency: 'crash',
    generation: 1,
    disks,
    publishedAt: time,
  } as RecoveryPointDoc);
}

export const spawnRecoveryHost = (env: RecoveryEnv): Promise<HostChild> =>
  spawnSagaHost(env, recoveryApp);

/** POSTs a recovery operation and waits for its job to end. */
export async function runOp(h: HostChild, env: RecoveryEnv, op: string, body: unknown = {}) {
  const r = await api(h, 'POST', `/api/machines/${env.machineId}/${op}`, body);
  if (r.status !== 202) throw new Error(`${op}: ${r.status} ${JSON.stringify(r.json)}`);
  return finalJob(h, r.json.id as string);
}

/** What is left in the target resource group (the group itself is kept). */
export const leftovers = async (env: RecoveryEnv) =>
  (await env.target.list('rg-dr')).map((r) => `${r.type.split('/').pop()}/${r.name}`).sort();
