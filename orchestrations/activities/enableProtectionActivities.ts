import { HavenError, conflict, notFound } from '../../core/errors';
import { collectionsDefs, type ProtectedItemDoc } from '../../core/controlPlane/model';
import type { ProtectedItemState } from '../../core/controlPlane/protectedItemState';
import type { JobPatch } from '../../core/controlPlane/jobs';
import { STAGING } from '../../core/replication/names';
import { protectionDeps } from './protectionDeps';
import { createReplica, deleteReplica } from './replicaActivities';

/**
 * Activities of the enable-protection saga. Each is idempotent, keyed by what the saga passes
 * (job id = orchestration instance id, machine, disk): running one again after a crash finds its
 * own earlier effect and does not repeat it, so the backend's at-least-once delivery is safe.
 */
export const EnableProtectionActivity = {
  updateJob: 'EnableProtection_UpdateJob',
  getDisks: 'EnableProtection_GetDisks',
  getSettings: 'EnableProtection_GetSettings',
  createReplica: 'EnableProtection_CreateReplica',
  deleteReplica: 'EnableProtection_DeleteReplica',
  ensureStaging: 'EnableProtection_EnsureStaging',
  recordItem: 'EnableProtection_RecordItem',
  releaseItem: 'EnableProtection_ReleaseItem',
  setState: 'EnableProtection_SetState',
  raiseAlert: 'EnableProtection_RaiseAlert',
} as const;

/** Marks a protected item the saga itself created (compensation deletes it rather than disabling it). */
export const CREATED_BY_SAGA = 'created by enable-protection';

export interface UpdateJobInput {
  jobId: string;
  state?: JobPatch['state'];
  percent?: number;
  step?: string;
  error?: { kind: string; message: string };
  result?: Record<string, unknown>;
}
export interface GetDisksInput {
  machineId: string;
  disks: string[];
}
export interface DiskToProtect {
  diskId: string;
  sizeBytes: number;
  /** The disk's current generation (> 1 after a resync); absent from older saga histories. */
  generation?: number;
}
export interface RecordItemInput {
  machineId: string;
  disks: string[];
  policy: string;
  jobId: string;
  at: string;
}
export interface SetStateInput {
  machineId: string;
  jobId: string;
  to: ProtectedItemState;
  from: ProtectedItemState[];
  reason?: string;
}
export interface AlertInput {
  machineId: string;
  jobId: string;
  kind: 'initial-sync-stalled' | 'protection-failed';
  message: string;
  at: string;
  details?: Record<string, unknown>;
}

async function updateJob(input: UpdateJobInput): Promise<boolean> {
  const { jobs } = await protectionDeps();
  const patch: JobPatch = {};
  if (input.state) patch.state = input.state;
  if (input.percent !== undefined)
    patch.progress = { percent: input.percent, ...(input.step ? { step: input.step } : {}) };
  if (input.error) patch.error = input.error;
  if (input.result) patch.result = input.result;
  try {
    await jobs.update(input.jobId, patch);
    return true;
  } catch (e) {
    // A saga started without a control-plane job (durable API directly) has no job document.
    if (e instanceof HavenError && e.kind === 'not-found') return false;
    throw e;
  }
}

async function getDisks(input: GetDisksInput): Promise<DiskToProtect[]> {
  const { machines } = await protectionDeps();
  const known = await machines.listDisks(input.machineId);
  return input.disks.map((id) => {
    const d = known.find((k) => k.id === id);
    if (!d) throw notFound('Disk', `${input.machineId}/${id}`);
    return { diskId: d.id, sizeBytes: d.sizeBytes, generation: d.generation };
  });
}

export interface ProtectionSettings {
  initialSyncTimeoutMs: number;
}

/** Configuration read once per saga (the orchestrator must not read config itself: replays). */
async function getSettings(): Promise<ProtectionSettings> {
  const { initialSyncTimeoutMs } = await protectionDeps();
  return { initialSyncTimeoutMs };
}

async function ensureStaging(): Promise<true> {
  const { blobs } = await protectionDeps();
  await blobs.ensureContainer(STAGING);
  return true;
}

async function recordItem(
  input: RecordItemInput,
): Promise<{ created: boolean; state: ProtectedItemState }> {
  const { items, machines } = await protectionDeps();
  const found = await items.find(input.machineId);
  if (found) {
    const doc = found.doc;
    if (doc.jobId === input.jobId) {
      const created = doc.history.some(
        (h) => h.jobId === input.jobId && h.reason === CREATED_BY_SAGA,
      );
      return { created, state: doc.state };
    }
    if (doc.state !== 'disabled') {
      throw conflict(`Machine '${input.machineId}' is '${doc.state}' under job '${doc.jobId}'.`);
    }
    const next = await items.replace(
      {
        ...doc,
        state: 'enabling',
        disks: input.disks,
        policy: input.policy,
        jobId: input.jobId,
        updatedAt: input.at,
        history: [
          ...doc.history,
          { from: doc.state, to: 'enabling' as const, at: input.at, jobId: input.jobId },
        ].slice(-20),
      },
      found.etag,
    );
    return { created: false, state: next.doc.state };
  }
  const machine = (await machines.getDoc(input.machineId)).doc;
  const doc: ProtectedItemDoc = {
    id: input.machineId,
    machineId: input.machineId,
    siteId: machine.siteId,
    state: 'enabling',
    disks: input.disks,
    policy: input.policy,
    jobId: input.jobId,
    createdAt: input.at,
    updatedAt: input.at,
    history: [
      { from: null, to: 'enabling', at: input.at, jobId: input.jobId, reason: CREATED_BY_SAGA },
    ],
  };
  try {
    await items.create(doc);
  } catch (e) {
    if (e instanceof HavenError && e.kind === 'conflict') return recordItem(input); // raced a re-run
    throw e;
  }
  return { created: true, state: 'enabling' };
}

/** Compensation of recordItem (and of every later state change): nothing of this job stays active. */
async function releaseItem(input: {
  machineId: string;
  jobId: string;
  reason: string;
}): Promise<string> {
  const { items, documents } = await protectionDeps();
  const found = await items.find(input.machineId);
  if (!found || found.doc.jobId !== input.jobId) return 'not-ours';
  if (found.doc.history.some((h) => h.jobId === input.jobId && h.reason === CREATED_BY_SAGA)) {
    await documents
      .collection<ProtectedItemDoc>(collectionsDefs.protectedItems)
      .delete(input.machineId, input.machineId);
    return 'deleted';
  }
  if (found.doc.state !== 'disabling' && found.doc.state !== 'disabled') {
    await items.transition(input.machineId, 'disabling', {
      jobId: input.jobId,
      reason: input.reason,
    });
  }
  if ((await items.get(input.machineId)).doc.state !== 'disabled') {
    await items.transition(input.machineId, 'disabled', {
      jobId: input.jobId,
      reason: input.reason,
    });
  }
  return 'disabled';
}

async function setState(input: SetStateInput): Promise<ProtectedItemState> {
  const { items } = await protectionDeps();
  const cur = await items.get(input.machineId);
  if (cur.doc.jobId !== input.jobId)
    throw conflict(`The protected item now belongs to job '${cur.doc.jobId}'.`);
  if (cur.doc.state === input.to) return input.to; // a re-run after the write
  await items.transition(input.machineId, input.to, {
    from: input.from,
    jobId: input.jobId,
    reason: input.reason,
  });
  return input.to;
}

async function raiseAlert(input: AlertInput): Promise<string> {
  const { alerts } = await protectionDeps();
  const id = `${input.jobId}:${input.kind}`; // one alert per job and kind, however often this runs
  await alerts.upsert({
    id,
    machineId: input.machineId,
    kind: input.kind,
    severity: input.kind === 'initial-sync-stalled' ? 'warning' : 'error',
    message: input.message,
    jobId: input.jobId,
    at: input.at,
    ...(input.details ? { details: input.details } : {}),
  });
  return id;
}

/** Activity handlers by name (registered by orchestrations/index.ts; tests may wrap them). */
export const enableProtectionActivities: Record<string, (input: never) => Promise<unknown>> = {
  [EnableProtectionActivity.updateJob]: updateJob,
  [EnableProtectionActivity.getDisks]: getDisks,
  [EnableProtectionActivity.getSettings]: getSettings,
  [EnableProtectionActivity.createReplica]: createReplica,
  [EnableProtectionActivity.deleteReplica]: deleteReplica,
  [EnableProtectionActivity.ensureStaging]: ensureStaging,
  [EnableProtectionActivity.recordItem]: recordItem,
  [EnableProtectionActivity.releaseItem]: releaseItem,
  [EnableProtectionActivity.setState]: setState,
  [EnableProtectionActivity.raiseAlert]: raiseAlert,
};
