import type { ProtectedItems } from '../controlPlane/protectedItems';
import { DIGEST_BLOCK } from '../disk/digest';
import { conflict, notFound, validation } from '../errors';
import type { RecoveryRecords } from '../recovery/recoveryRecords';
import type { BlobStore } from '../replication/blobPorts';
import type { FailbackDisk, FailbackRecord, ReverseBatchRef } from './model';
import { diskFailedBack, digestsBlobName, outContainerOf, siteTookOver } from './model';

/**
 * The failback session as the site agent sees it (its plan: the batches to apply, with short
 * read URLs) and what it reports (the digest after the last batch), over the recovery record.
 */

export interface PlanDisk {
  diskId: string;
  session: number;
  pointId: string;
  pointDigest: string;
  sizeBytes: number;
  batches: { seq: number; url: string; sha256: string; bytes: number }[];
  expectedDigest: string;
  final: boolean;
  /** Final diff: the Azure disk's 64 KiB block digests (sha256 each), to find what differs. */
  digestsUrl?: string;
}

/** Repair rounds a failback allows before its mismatch is left to an operator. */
export const MAX_REPAIRS = 5;
/** Ranges one repair request may name (a larger loss is a restore, not a repair). */
export const MAX_REPAIR_RANGES = 4096;

/** The agent's plan: every listed batch with a read-only URL of `ttlSec` (no storage key). */
export async function failbackPlan(
  d: { records: RecoveryRecords; blobs: Pick<BlobStore, 'readUrl'> },
  machineId: string,
  ttlSec: number,
): Promise<{ disks: PlanDisk[] }> {
  const fb = (await d.records.get(machineId)).failback;
  if (!fb) throw notFound('Failback of machine', machineId);
  const container = outContainerOf(machineId);
  const disks: PlanDisk[] = [];
  for (const x of fb.disks) {
    disks.push({
      diskId: x.diskId,
      session: fb.session,
      pointId: fb.pointId,
      pointDigest: x.pointDigest,
      sizeBytes: x.sizeBytes,
      batches: await Promise.all(
        x.batches.map(async (b) => ({
          seq: b.seq,
          sha256: b.sha256,
          bytes: b.bytes,
          url: await d.blobs.readUrl(container, b.blob, ttlSec),
        })),
      ),
      expectedDigest: x.expectedDigest,
      final: x.final,
      ...(x.final
        ? {
            digestsUrl: await d.blobs.readUrl(
              container,
              digestsBlobName(x.diskId, fb.session),
              ttlSec,
            ),
          }
        : {}),
    });
  }
  return { disks };
}

export interface AppliedReport {
  diskId: string;
  session: number;
  seq: number;
  digest: string;
}

/**
 * The agent applied up to `seq` and computed `digest`: accepted only when that is the last
 * batch of the final diff and the digest is the Azure disk's; anything else is kept as a
 * mismatch (never as done).
 */
export async function reportApplied(
  records: RecoveryRecords,
  machineId: string,
  rep: AppliedReport,
  now: string,
): Promise<{ accepted: boolean; expectedDigest: string }> {
  let out = { accepted: false, expectedDigest: '' };
  await records.mutate(machineId, (r) => {
    const fb = r.failback;
    if (!fb || fb.session !== rep.session)
      throw conflict(`Failback session ${rep.session} of '${machineId}' is not the current one.`);
    const disk = fb.disks.find((x) => x.diskId === rep.diskId);
    if (!disk) throw notFound('Failback disk', rep.diskId);
    const last = disk.batches[disk.batches.length - 1]?.seq ?? 0;
    const ok = disk.final && rep.seq === last && rep.digest === disk.expectedDigest;
    out = { accepted: ok, expectedDigest: disk.final ? disk.expectedDigest : '' };
    if (ok) disk.applied = { seq: rep.seq, digest: rep.digest, at: now };
    else disk.mismatch = { seq: rep.seq, digest: rep.digest, at: now };
    return r;
  });
  return out;
}

/**
 * The site found blocks that differ from the Azure disk after applying the final diff: they
 * are recorded for the saga to ship again from the final snapshot. Refused when the disk is
 * not at its final diff, the ranges are not whole 64 KiB blocks inside it, or the rounds ran out.
 */
export async function requestRepair(
  records: RecoveryRecords,
  machineId: string,
  req: { diskId: string; session: number; ranges: { offset: number; length: number }[] },
  now: string,
): Promise<{ n: number }> {
  let n = 0;
  await records.mutate(machineId, (r) => {
    const fb = r.failback;
    if (!fb || fb.session !== req.session)
      throw conflict(`Failback session ${req.session} of '${machineId}' is not the current one.`);
    const disk = fb.disks.find((x) => x.diskId === req.diskId);
    if (!disk) throw notFound('Failback disk', req.diskId);
    if (!disk.final || disk.applied)
      throw conflict(`Disk '${req.diskId}' has no final diff waiting to be repaired.`);
    if (disk.repair) {
      n = disk.repair.n; // asked already: the saga is on it
      return undefined;
    }
    if ((disk.repairs ?? 0) >= MAX_REPAIRS)
      throw conflict(
        `Disk '${req.diskId}' was repaired ${MAX_REPAIRS} times and still differs; restore it from the point and fail back again.`,
      );
    const bad = req.ranges.find(
      (x) =>
        x.length <= 0 ||
        x.offset % DIGEST_BLOCK !== 0 ||
        (x.length % DIGEST_BLOCK !== 0 && x.offset + x.length !== disk.sizeBytes) ||
        x.offset + x.length > disk.sizeBytes,
    );
    if (bad || req.ranges.length === 0 || req.ranges.length > MAX_REPAIR_RANGES)
      throw validation(
        `A repair names 1 to ${MAX_REPAIR_RANGES} ranges of whole 64 KiB blocks inside the disk.`,
      );
    n = (disk.repairs ?? 0) + 1;
    disk.repair = { n, ranges: req.ranges, at: now };
    return r;
  });
  return { n };
}

/** Adds a shipment to a disk (idempotent by `key`: a repeated activity records nothing twice). */
export function recordShipment(
  fb: FailbackRecord,
  key: string,
  diskId: string,
  s: {
    batches: ReverseBatchRef[];
    bytesChanged: number;
    expectedDigest: string;
    snapshotId: string;
    final: boolean;
    /** The repair round this shipment answers. */
    repair?: number;
  },
): boolean {
  if (fb.shipped.includes(key)) return false;
  const disk = fb.disks.find((x) => x.diskId === diskId);
  if (!disk) throw notFound('Failback disk', diskId);
  if (s.repair !== undefined) {
    if (disk.repair?.n === s.repair) delete disk.repair;
    disk.repairs = Math.max(disk.repairs ?? 0, s.repair);
  }
  disk.batches.push(...s.batches);
  disk.bytesChanged += s.bytesChanged;
  disk.expectedDigest = s.expectedDigest;
  disk.baseSnapshotId = s.snapshotId;
  disk.snapshots = [...(disk.snapshots ?? []).filter((x) => x !== s.snapshotId), s.snapshotId];
  disk.final = s.final;
  delete disk.mismatch;
  fb.shipped.push(key);
  return true;
}

/**
 * Asks the running failback to stop (the saga compensates: the Azure VM starts again and the
 * machine is `reprotected`). Refused once the site has reported the Azure disk's digest for a
 * disk: from then on the site is the server, and the failback only completes.
 */
export async function requestCancel(
  d: { records: RecoveryRecords; items: Pick<ProtectedItems, 'find'> },
  machineId: string,
  now: string,
): Promise<{ jobId: string }> {
  const state = (await d.items.find(machineId))?.doc.state ?? null;
  if (state !== 'failing-back')
    throw conflict(
      `Machine '${machineId}' is '${state}'; only a running failback can be cancelled.`,
      {
        state,
      },
    );
  let jobId = '';
  await d.records.mutate(machineId, (r) => {
    const fb = r.failback;
    if (!fb?.failbackJobId) throw conflict(`Machine '${machineId}' has no failback running.`);
    if (siteTookOver(fb))
      throw conflict(
        `The site already took over '${machineId}' (it reported the Azure disk's digest): the failback can no longer be cancelled.`,
        { jobId: fb.failbackJobId },
      );
    jobId = fb.failbackJobId;
    if (fb.cancelRequestedAt) return undefined;
    fb.cancelRequestedAt = now;
    return r;
  });
  return { jobId };
}

/** Per disk: done, or what is outstanding (for the saga waiting on the site). */
export function siteStatus(fb: FailbackRecord): {
  done: boolean;
  /** Cancel was asked and the site has not taken over: the saga compensates. */
  cancel: boolean;
  disks: {
    diskId: string;
    done: boolean;
    applied?: number;
    last: number;
    mismatch?: string;
    repair?: { n: number; ranges: { offset: number; length: number }[] };
  }[];
} {
  const disks = fb.disks.map((d: FailbackDisk) => ({
    diskId: d.diskId,
    done: diskFailedBack(d),
    ...(d.applied ? { applied: d.applied.seq } : {}),
    last: d.batches[d.batches.length - 1]?.seq ?? 0,
    ...(d.mismatch ? { mismatch: d.mismatch.digest } : {}),
    ...(d.repair ? { repair: { n: d.repair.n, ranges: d.repair.ranges } } : {}),
  }));
  const done = disks.every((d) => d.done);
  return { done, cancel: !done && !siteTookOver(fb) && !!fb.cancelRequestedAt, disks };
}
