import { getRoot } from '../../app/root';
import { conflict, notFound } from '../../core/errors';
import { recordShipment, siteStatus } from '../../core/failback/failbackRecord';
import { outContainerOf, type FailbackDisk, type FailbackRecord } from '../../core/failback/model';
import type { BlobStore } from '../../core/replication/blobPorts';
import {
  compareDisks,
  loadDigests,
  shipRanges,
  type DiffSource,
  type ShipTarget,
} from '../../core/failback/shipDiff';
import type { ByteRange } from '../../core/recovery/ports';
import { REPLICAS } from '../../core/replication/names';
import type { RecoveryPointDoc } from '../../core/replication/state';
import { recoveryDeps, targetOf } from './recoveryDeps';

/**
 * Activities of the way back (reprotect, failback). Each is idempotent: a session is keyed by
 * the reprotect job, a shipment by instance id + step + disk, so a replayed saga or a retried
 * activity records nothing twice.
 */
export const FailbackActivity = {
  begin: 'Failback_Begin',
  ship: 'Failback_Ship',
  status: 'Failback_Status',
  unfinal: 'Failback_Unfinal',
  clear: 'Failback_Clear',
} as const;

/** Seconds a snapshot read grant lasts (one diff reads well within it). */
const READ_GRANT_SECONDS = 3600;

export interface BegunSession {
  session: number;
  vmId: string;
  disks: { diskId: string; azureDiskId: string }[];
}

/** Opens the failback session of a committed failover (its VM, disks and point). */
async function begin(i: {
  machineId: string;
  jobId: string;
  /** Failback: the session reprotect opened, never a new one. */
  existing?: boolean;
  /** The saga's clock (ISO). */
  at?: string;
}): Promise<BegunSession> {
  const d = await recoveryDeps();
  const t = targetOf(d);
  const rec = await d.records.get(i.machineId);
  const out = (fb: NonNullable<typeof rec.failback>): BegunSession => ({
    session: fb.session,
    vmId: fb.vmId,
    disks: fb.disks.map((x) => ({ diskId: x.diskId, azureDiskId: x.azureDiskId })),
  });
  if (rec.failback && (i.existing || rec.failback.reprotectJobId === i.jobId))
    return out(rec.failback);
  if (i.existing) throw conflict(`Machine '${i.machineId}' was not reprotected.`);
  const vm = rec.failover?.vm;
  if (!vm || !rec.failover?.committedAt)
    throw conflict(`Machine '${i.machineId}' has no committed failover to come back from.`);
  const point = await d.replication.docs.points.get(i.machineId, vm.pointId);
  if (!point || point.doc.type !== 'point') throw notFound('Recovery point', vm.pointId);
  const pdoc = point.doc as RecoveryPointDoc;
  const disks: FailbackDisk[] = [];
  for (const azureDiskId of vm.diskIds) {
    const view = await t.get(azureDiskId);
    const diskId = view?.tags['haven-disk'];
    const piece = pdoc.disks.find((p) => p.diskId === diskId);
    if (!view || !diskId || !piece) throw notFound('Failed-over disk', azureDiskId);
    disks.push({
      diskId,
      azureDiskId,
      sizeBytes: piece.sizeBytes,
      pointDigest: piece.sha256,
      batches: [],
      expectedDigest: piece.sha256,
      final: false,
      bytesChanged: 0,
    });
  }
  const next = await d.records.mutate(i.machineId, (r) => {
    if (r.failback?.reprotectJobId === i.jobId) return undefined;
    r.failback = {
      session: (r.failback?.session ?? 0) + 1,
      reprotectJobId: i.jobId,
      pointId: vm.pointId,
      vmId: vm.vmId,
      disks,
      shipped: [],
      startedAt: i.at ?? '',
    };
    return r;
  });
  return out(next.failback!);
}

export interface ShipInput {
  machineId: string;
  /** Instance id + step: the idempotency key of this shipment. */
  key: string;
  diskId: string;
  snapshotId: string;
  final: boolean;
  /**
   * A repair: these blocks again from `snapshotId` (the one already shipped), whatever the
   * diff says; `repair` is the round it answers.
   */
  ranges?: ByteRange[];
  repair?: number;
}

export interface ShipResult {
  batches: number;
  bytesChanged: number;
  bytesShipped: number;
}

/**
 * Ships one disk's diff since the last shipment as reverse batches: against the previous
 * snapshot by the target's changed ranges, or (the first one, no snapshot of the failover
 * point exists) by comparing the snapshot with the point's replica snapshot in the cloud.
 */
async function ship(i: ShipInput): Promise<ShipResult> {
  const d = await recoveryDeps();
  const t = targetOf(d);
  const root = await getRoot();
  const rec = await d.records.get(i.machineId);
  const fb = rec.failback;
  if (!fb) throw conflict(`Machine '${i.machineId}' has no failback session.`);
  const disk = fb.disks.find((x) => x.diskId === i.diskId);
  if (!disk) throw notFound('Failback disk', i.diskId);
  if (fb.shipped.includes(i.key)) return summary(disk, []);
  const keyId = (await root.controlPlane.machines.getDoc(i.machineId)).doc.keyId;
  const deps = {
    blobs: d.replication.blobs,
    key: await d.replication.keys.getDataKey(i.machineId, keyId),
    keyId,
  };
  const target: ShipTarget = {
    machineId: i.machineId,
    diskId: i.diskId,
    session: fb.session,
    sizeBytes: disk.sizeBytes,
  };
  let digests = disk.baseSnapshotId ? await loadDigests(deps, target) : undefined;
  // The changed ranges first: asking for them grants and then revokes the snapshot's access,
  // and a snapshot has one access grant at a time (as in Azure), so a reader opened before
  // would lose its URI mid-diff.
  if (i.ranges && !digests)
    throw conflict(`Disk '${i.diskId}' has no shipped digests to repair against.`);
  let ranges =
    i.ranges ??
    (disk.baseSnapshotId && digests
      ? await t.changedRanges(i.snapshotId, disk.baseSnapshotId)
      : undefined);
  const reader = await t.openSnapshot(i.snapshotId, READ_GRANT_SECONDS);
  try {
    if (!ranges) {
      const point = (await d.replication.docs.points.get(i.machineId, fb.pointId))!
        .doc as RecoveryPointDoc;
      const piece = point.disks.find((p) => p.diskId === i.diskId)!;
      const base: DiffSource = {
        read: (off, len) =>
          d.replication.blobs.readRange(REPLICAS, piece.blob, off, len, piece.snapshot),
      };
      ({ ranges, digests } = await compareDisks(reader, base, disk.sizeBytes));
      // A later diff of a session whose base is lost restarts from the point: batches already
      // applied are superseded by absolute writes of the same blocks (idempotent).
    }
    const first = (disk.batches[disk.batches.length - 1]?.seq ?? 0) + 1;
    const shipped = await shipRanges(deps, target, reader, ranges, first, digests!);
    const after = await d.records.mutate(i.machineId, (r) => {
      if (!r.failback || r.failback.session !== fb.session) return undefined;
      return recordShipment(r.failback, i.key, i.diskId, {
        ...shipped,
        snapshotId: i.snapshotId,
        final: i.final,
        ...(i.repair !== undefined ? { repair: i.repair } : {}),
      })
        ? r
        : undefined;
    });
    const now = after.failback!.disks.find((x) => x.diskId === i.diskId)!;
    return summary(now, shipped.batches);
  } finally {
    await reader.close();
  }
}

function summary(disk: FailbackDisk, fresh: FailbackDisk['batches']): ShipResult {
  return {
    batches: fresh.length,
    bytesChanged: disk.bytesChanged,
    bytesShipped: disk.batches.reduce((n, b) => n + b.bytes, 0),
  };
}

/** Whether the site applied everything with the right digest (the saga polls it). */
async function status(i: { machineId: string }): Promise<ReturnType<typeof siteStatus>> {
  const d = await recoveryDeps();
  const fb = (await d.records.get(i.machineId)).failback;
  if (!fb) throw conflict(`Machine '${i.machineId}' has no failback session.`);
  return siteStatus(fb);
}

/**
 * Compensation of a failback after its final diff: the diff stays listed (the site may have
 * applied part of it; the VM starts again from that very state) but is no longer final.
 */
async function unfinal(i: { machineId: string }): Promise<true> {
  const d = await recoveryDeps();
  await d.records.mutate(i.machineId, (r) => {
    if (!r.failback) return undefined;
    for (const x of r.failback.disks) x.final = false;
    return r;
  });
  return true;
}

/** Compensation of a reprotect: the session and its batches go. */
async function clear(i: { machineId: string; jobId: string }): Promise<true> {
  const d = await recoveryDeps();
  const rec = await d.records.get(i.machineId);
  const fb = rec.failback;
  if (!fb || fb.reprotectJobId !== i.jobId) return true;
  await deleteSessionBlobs(d.replication.blobs, i.machineId, fb);
  await d.records.mutate(i.machineId, (r) => {
    if (r.failback?.reprotectJobId !== i.jobId) return undefined;
    delete r.failback;
    return r;
  });
  return true;
}

/** Deletes every reverse batch and digest blob of a session; returns how many. */
export async function deleteSessionBlobs(
  blobs: Pick<BlobStore, 'list' | 'deleteBlob'>,
  machineId: string,
  fb: FailbackRecord,
): Promise<number> {
  const container = outContainerOf(machineId);
  let n = 0;
  for (const x of fb.disks) {
    const items = await blobs.list(container, `${x.diskId}/g${fb.session}/`).catch(() => []);
    for (const b of items) {
      await blobs.deleteBlob(container, b.name);
      n++;
    }
  }
  return n;
}

export const failbackActivities: Record<string, (input: never) => Promise<unknown>> = {
  [FailbackActivity.begin]: begin,
  [FailbackActivity.ship]: ship,
  [FailbackActivity.status]: status,
  [FailbackActivity.unfinal]: unfinal,
  [FailbackActivity.clear]: clear,
};
