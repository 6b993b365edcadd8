import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileRecoveryTarget } from '../../support/fileRecoveryTarget';
import { addPoint as addPointTo, seedProtected } from '../../support/recoverableMachine';
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
  await seedProtected(env.root, env.machineId, { sda: 3 * 1024 * 1024, sdb: 1024 * 1024 + 512 });
  const out = { ...env, target: new FileRecoveryTarget(file) };
  for (const id of points) await addPoint(out, id);
  return out;
}

/** A materialized point `id` (newest so far): one real snapshot per disk, its first sector marked. */
export const addPoint = (env: SagaEnv, id: string) => addPointTo(env.root, env.machineId, id);

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
