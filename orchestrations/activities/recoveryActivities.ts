import type { JobDoc, JobStep } from '../../core/controlPlane/model';
import type { ProtectedItemState } from '../../core/controlPlane/protectedItemState';
import type { RecoveryRecordDoc } from '../../core/recovery/model';
import { applyRecordChange, type RecordChange } from '../../core/recovery/recordChanges';
import { parsePointChoice, type CandidatePoint } from '../../core/recovery/pointChoice';
import { resolvePoint } from '../../core/recovery/resolvePoint';
import { RECOVERY_CONTAINER } from '../../core/recovery/resourceNames';
import { REPLICAS, replicaBlobName } from '../../core/replication/names';
import { pinPoint } from '../../core/replication/catchUp';
import { materializeUpTo } from '../../core/replication/materialize';
import { recoveryDeps } from './recoveryDeps';

/** Activities of the recovery sagas besides the ARM ones (jobs, records, points, probe). */
export const RecoveryActivity = {
  job: 'Recovery_Job',
  setState: 'Recovery_SetState',
  record: 'Recovery_Record',
  getRecord: 'Recovery_GetRecord',
  materialize: 'Recovery_Materialize',
  pointStatus: 'Recovery_PointStatus',
  resolvePoint: 'Recovery_ResolvePoint',
  copyBase: 'Recovery_CopyBase',
  deleteBase: 'Recovery_DeleteBase',
  probe: 'Recovery_Probe',
} as const;

export interface JobUpdate {
  jobId: string;
  state?: JobDoc['state'];
  percent?: number;
  stepName?: string;
  /** Step changes, applied in order (a step's end and the next one's start travel together). */
  steps?: JobStep[];
  result?: Record<string, unknown>;
  error?: { kind: string; message: string };
  allowedActions?: string[];
}

async function job(u: JobUpdate): Promise<true> {
  const { jobs } = await recoveryDeps();
  await jobs.update(u.jobId, (cur) => {
    const steps = [...(cur.steps ?? [])];
    for (const step of u.steps ?? []) {
      const i = steps.findIndex((s) => s.name === step.name);
      if (i >= 0) steps[i] = { ...steps[i]!, ...step };
      else steps.push(step);
    }
    return {
      ...(u.state ? { state: u.state } : {}),
      ...(u.percent !== undefined || u.stepName
        ? {
            progress: {
              percent: u.percent ?? cur.progress.percent,
              step: u.stepName ?? cur.progress.step,
            },
          }
        : {}),
      ...(u.steps?.length ? { steps } : {}),
      ...(u.result ? { result: { ...(cur.result ?? {}), ...u.result } } : {}),
      ...(u.error ? { error: u.error } : {}),
      ...(u.allowedActions ? { allowedActions: u.allowedActions } : {}),
    };
  });
  return true;
}

export interface SetStateInput {
  machineId: string;
  jobId: string;
  to: ProtectedItemState;
  from: ProtectedItemState[];
  reason: string;
}

/** Moves the item; already there (a retried activity) is success. */
async function setState(i: SetStateInput): Promise<true> {
  const { items } = await recoveryDeps();
  const cur = await items.get(i.machineId);
  if (cur.doc.state === i.to) return true;
  await items.transition(i.machineId, i.to, { from: i.from, jobId: i.jobId, reason: i.reason });
  return true;
}

async function record(i: { machineId: string; change: RecordChange }): Promise<true> {
  const { records } = await recoveryDeps();
  await records.mutate(i.machineId, (r) => applyRecordChange(r, i.change));
  return true;
}

async function getRecord(i: { machineId: string }): Promise<RecoveryRecordDoc> {
  const { records } = await recoveryDeps();
  return records.get(i.machineId);
}

/** A point ready to be used: every disk has its replica snapshot. */
export interface ResolvedPoint {
  id: string;
  time: string;
  consistency: string;
  disks: { diskId: string; blob: string; snapshot: string; sizeBytes: number }[];
}

/**
 * The point a choice names now (no bytes moved yet). One still hydrating is pinned as it is
 * chosen, so a hydrator catching up cuts it instead of merging past it; if that happened just
 * before the pin, the choice is resolved again.
 */
async function resolve(i: { machineId: string; choice: string }): Promise<CandidatePoint> {
  const d = await recoveryDeps();
  for (let attempt = 1; ; attempt++) {
    const p = await resolvePoint(d.points, i.machineId, parsePointChoice(i.choice, 'latest'));
    if (p.materialized !== false || attempt === 3) return p;
    if (await pinPoint(d.replication, i.machineId, p.id)) return p;
  }
}

/** 'published' (durable), 'pending' (being cut) or null (not seen yet). */
async function pointStatus(i: { machineId: string; pointId: string }): Promise<string | null> {
  const d = await recoveryDeps();
  return (await d.points.status(i.machineId, i.pointId)) ?? null;
}

export type MaterializeRound =
  | { state: 'materialized'; point: ResolvedPoint }
  | { state: 'pending' | 'failed'; reason?: string };

/**
 * One round of driving a durable point to materialized (the data path drains each disk up to
 * the bookmark, exactly as the blob trigger would); the saga waits on a timer between rounds.
 */
async function materialize(i: { machineId: string; pointId: string }): Promise<MaterializeRound> {
  const d = await recoveryDeps();
  const m = await materializeUpTo(d.replication, d.replicationOptions, i.machineId, i.pointId);
  if (m.state !== 'materialized')
    return { state: m.state, ...(m.reason ? { reason: m.reason } : {}) };
  const p = m.point;
  return {
    state: 'materialized',
    point: {
      id: p.id,
      time: p.time,
      consistency: p.consistency,
      disks: p.disks.map((x) => ({
        diskId: x.diskId,
        blob: replicaBlobName(i.machineId, x.diskId, x.generation),
        snapshot: String(x.snapshot),
        sizeBytes: Number(x.sizeBytes),
      })),
    },
  };
}

/**
 * Copies a point's replica snapshot server-side to a base blob a managed disk can import
 * (Azure does not document importing from `?snapshot=` URIs). Returns the blob's URI without
 * any SAS: Import reads it through `storageAccountId`.
 */
async function copyBase(i: {
  blob: string;
  snapshot: string;
  name: string;
}): Promise<{ sourceUri: string }> {
  const { replication } = await recoveryDeps();
  await replication.blobs.ensureContainer(RECOVERY_CONTAINER);
  await replication.blobs.copyBlob(
    { container: REPLICAS, name: i.blob, snapshot: i.snapshot },
    RECOVERY_CONTAINER,
    i.name,
  );
  const url = await replication.blobs.readUrl(RECOVERY_CONTAINER, i.name, 60);
  return { sourceUri: url.split('?')[0]! };
}

async function deleteBase(i: { name: string }): Promise<true> {
  const { replication } = await recoveryDeps();
  await replication.blobs.deleteBlob(RECOVERY_CONTAINER, i.name);
  return true;
}

export interface ProbeResult {
  /** Something answered HTTP (the guest's server is up). */
  connected: boolean;
  status?: number;
}

/** One health probe: GET the URL once, a short timeout; never throws. */
async function probe(i: { url: string; timeoutMs: number }): Promise<ProbeResult> {
  const d = await recoveryDeps();
  try {
    const res = await d.fetch(i.url, { signal: AbortSignal.timeout(i.timeoutMs) });
    await res.arrayBuffer().catch(() => undefined);
    return { connected: true, status: res.status };
  } catch {
    return { connected: false };
  }
}

export const recoveryActivities: Record<string, (input: never) => Promise<unknown>> = {
  [RecoveryActivity.job]: job,
  [RecoveryActivity.setState]: setState,
  [RecoveryActivity.record]: record,
  [RecoveryActivity.getRecord]: getRecord,
  [RecoveryActivity.materialize]: materialize,
  [RecoveryActivity.pointStatus]: pointStatus,
  [RecoveryActivity.resolvePoint]: resolve,
  [RecoveryActivity.copyBase]: copyBase,
  [RecoveryActivity.deleteBase]: deleteBase,
  [RecoveryActivity.probe]: probe,
};
