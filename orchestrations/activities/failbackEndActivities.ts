import { getRoot } from '../../app/root';
import { collectionsDefs, type DiskDoc } from '../../core/controlPlane/model';
import type { ProtectedItemState } from '../../core/controlPlane/protectedItemState';
import { HavenError, conflict, notFound } from '../../core/errors';
import { seedReplica, type SeedResult } from '../../core/failback/seedReplica';
import { REPLICA_INDEX, indexBlobName } from '../../core/replication/names';
import { diskDocId } from '../../core/replication/state';
import { deleteSessionBlobs } from './failbackActivities';
import { recoveryDeps, targetOf, type RecoveryDeps } from './recoveryDeps';

/**
 * Activities of the end of the way back: commit of a failback (what stays in Azure is only
 * each disk's final snapshot, the seed) and re-enable (new replicas seeded from those
 * snapshots inside the cloud, the disks switched to the new generation, the item protected
 * again at its first point). Each is idempotent: keyed by the job, a re-run changes nothing.
 */
export const FailbackEndActivity = {
  deleteBatches: 'FailbackEnd_DeleteBatches',
  committed: 'FailbackEnd_Committed',
  releaseCommit: 'FailbackEnd_ReleaseCommit',
  plan: 'Reenable_Plan',
  seed: 'Reenable_Seed',
  unseed: 'Reenable_Unseed',
  switchGeneration: 'Reenable_Switch',
  settle: 'Reenable_Settle',
  finish: 'Reenable_Finish',
  release: 'Reenable_Release',
} as const;

/** Seconds a snapshot read grant lasts while a seed is copied. */
const SEED_GRANT_SECONDS = 4 * 3600;

async function failbackOf(machineId: string) {
  const d = await recoveryDeps();
  const fb = (await d.records.get(machineId)).failback;
  if (!fb) throw conflict(`Machine '${machineId}' has no failback.`);
  return { d, fb };
}

/** Every reverse batch and digest blob of the session (nothing at the site needs them now). */
async function deleteBatches(i: { machineId: string }): Promise<number> {
  const { d, fb } = await failbackOf(i.machineId);
  return deleteSessionBlobs(d.replication.blobs, i.machineId, fb);
}

async function committed(i: {
  machineId: string;
  jobId: string;
  at: string;
  removed: string[];
}): Promise<true> {
  const { d } = await failbackOf(i.machineId);
  await d.records.mutate(i.machineId, (r) => {
    if (r.failback?.commitJobId !== i.jobId || r.failback.committedAt) return undefined;
    r.failback = { ...r.failback, committedAt: i.at, removed: i.removed };
    return r;
  });
  return true;
}

/** Compensation of a commit: the next commit may run (what was deleted stays deleted). */
async function releaseCommit(i: { machineId: string; jobId: string }): Promise<true> {
  const { d } = await failbackOf(i.machineId);
  await d.records.mutate(i.machineId, (r) => {
    if (r.failback?.commitJobId !== i.jobId || r.failback.committedAt) return undefined;
    delete r.failback.commitJobId;
    return r;
  });
  return true;
}

export interface SeedDisk {
  diskId: string;
  sizeBytes: number;
  generation: number;
  /** The disk's final failback snapshot (kept by commit). */
  snapshotId: string;
  /** The digest the site reported at failback. */
  digest: string;
}

const disksOf = async () => (await getRoot()).documents.collection<DiskDoc>(collectionsDefs.disks);

/** Per disk: the seed snapshot, the digest the site reported and the generation to start. */
async function plan(i: { machineId: string; jobId: string }): Promise<SeedDisk[]> {
  const { fb } = await failbackOf(i.machineId);
  const disks = await disksOf();
  const out: SeedDisk[] = [];
  for (const x of fb.disks) {
    const doc = (await disks.get(i.machineId, x.diskId))?.doc;
    if (!doc) throw notFound('Disk', `${i.machineId}/${x.diskId}`);
    if (!x.baseSnapshotId || !x.applied)
      throw conflict(`Disk '${x.diskId}' has no failback snapshot the site took over.`);
    if (doc.sizeBytes !== x.sizeBytes)
      throw conflict(
        `Disk '${x.diskId}' changed size since failback; re-enable it with a full resync.`,
      );
    const gen = doc.generation ?? 1;
    out.push({
      diskId: x.diskId,
      sizeBytes: x.sizeBytes,
      // Already switched by this job (a replay): the same generation.
      generation: doc.seed?.jobId === i.jobId ? doc.seed.generation : gen + 1,
      snapshotId: x.baseSnapshotId,
      digest: x.applied.digest,
    });
  }
  return out;
}

async function seed(i: SeedDisk & { machineId: string }): Promise<SeedResult> {
  const d = await recoveryDeps();
  const reader = await targetOf(d).openSnapshot(i.snapshotId, SEED_GRANT_SECONDS);
  try {
    return await seedReplica(d.replication.blobs, reader, {
      machineId: i.machineId,
      diskId: i.diskId,
      generation: i.generation,
      sizeBytes: i.sizeBytes,
      expectedDigest: i.digest,
    });
  } finally {
    await reader.close();
  }
}

/** Compensation of a seed: its index goes (the replica is the create-replica step's to delete). */
async function unseed(i: { machineId: string; diskId: string; generation: number }): Promise<true> {
  const d = await recoveryDeps();
  await d.replication.blobs
    .deleteBlob(REPLICA_INDEX, indexBlobName(i.machineId, i.diskId, i.generation))
    .catch((e: unknown) => {
      if (!(e instanceof HavenError && e.kind === 'not-found')) throw e;
    });
  return true;
}

/**
 * The point of no return of re-enable: each disk moves to its seeded generation (the agent
 * follows it and compares against its index of the failback moment), the item to
 * `initial-sync` under this job.
 */
async function switchGeneration(i: {
  machineId: string;
  jobId: string;
  disks: SeedDisk[];
}): Promise<true> {
  const d = await recoveryDeps();
  const disks = await disksOf();
  for (const x of i.disks) {
    for (let attempt = 0; ; attempt++) {
      const cur = await disks.get(i.machineId, x.diskId);
      if (!cur) throw notFound('Disk', `${i.machineId}/${x.diskId}`);
      if (cur.doc.seed?.jobId === i.jobId) break;
      const next: DiskDoc = {
        ...cur.doc,
        generation: x.generation,
        seed: { generation: x.generation, digest: x.digest, jobId: i.jobId },
      };
      try {
        await disks.replace(next, { ifMatch: cur.etag });
        break;
      } catch (e) {
        if (!(e instanceof HavenError && e.kind === 'precondition') || attempt >= 5) throw e;
      }
    }
  }
  await moveIf(
    d,
    i,
    'enabling',
    'initial-sync',
    're-enable: disks switched to their seeded generations',
  );
  return true;
}

/** Whether every seeded generation has its first point; then the item is `protected`. */
async function settle(i: {
  machineId: string;
  jobId: string;
  disks: SeedDisk[];
}): Promise<{ done: boolean; pending: string[]; bytesApplied: Record<string, number> }> {
  const d = await recoveryDeps();
  const pending: string[] = [];
  const bytesApplied: Record<string, number> = {};
  for (const x of i.disks) {
    const gen = await d.replication.docs.disks.get(i.machineId, diskDocId(x.diskId, x.generation));
    if (!gen?.doc.complete) pending.push(x.diskId);
    bytesApplied[x.diskId] = gen?.doc.bytesApplied ?? 0;
  }
  if (pending.length) return { done: false, pending, bytesApplied };
  await moveIf(d, i, 'initial-sync-stalled', 'initial-sync', 're-enable: the first point came');
  await moveIf(
    d,
    i,
    'initial-sync',
    'protected',
    're-enabled: every disk has a recovery point again',
  );
  return { done: true, pending, bytesApplied };
}

/** The failover and failback of the past are closed: a new failover may start from here. */
async function finish(i: { machineId: string; jobId: string }): Promise<true> {
  const d = await recoveryDeps();
  await d.records.mutate(i.machineId, (r) => {
    if (r.failback?.reenableJobId !== i.jobId) return undefined;
    delete r.failback;
    delete r.failover;
    return r;
  });
  return true;
}

/** Compensation of a re-enable before its switch: the machine is `failed-back` again. */
async function release(i: { machineId: string; jobId: string }): Promise<true> {
  const d = await recoveryDeps();
  await moveIf(d, i, 'enabling', 'failed-back', 're-enable failed');
  await d.records.mutate(i.machineId, (r) => {
    if (r.failback?.reenableJobId !== i.jobId) return undefined;
    delete r.failback.reenableJobId;
    return r;
  });
  return true;
}

/** Moves the item `from` → `to` when it is still `from` (a retried activity finds it moved). */
async function moveIf(
  d: RecoveryDeps,
  i: { machineId: string; jobId: string },
  from: ProtectedItemState,
  to: ProtectedItemState,
  reason: string,
): Promise<void> {
  if ((await d.items.get(i.machineId)).doc.state === from)
    await d.items.transition(i.machineId, to, { from: [from], jobId: i.jobId, reason });
}

export const failbackEndActivities: Record<string, (input: never) => Promise<unknown>> = {
  [FailbackEndActivity.deleteBatches]: deleteBatches,
  [FailbackEndActivity.committed]: committed,
  [FailbackEndActivity.releaseCommit]: releaseCommit,
  [FailbackEndActivity.plan]: plan,
  [FailbackEndActivity.seed]: seed,
  [FailbackEndActivity.unseed]: unseed,
  [FailbackEndActivity.switchGeneration]: switchGeneration,
  [FailbackEndActivity.settle]: settle,
  [FailbackEndActivity.finish]: finish,
  [FailbackEndActivity.release]: release,
};
