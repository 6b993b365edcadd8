import { DIGEST_BLOCK, blockCount, blockDigest, treeDigest } from '../disk/digest';
import { isHavenError, notFound } from '../errors';
import { mapLimit } from '../mapLimit';
import { recordAlert } from './incidents';
import { REPLICAS } from './names';
import { isMaterialized, pointDocOf } from './pointDocs';
import type { ReplicationDeps } from './ports';
import type { RecoveryPointDoc } from './state';

const READ = 4 * 1024 * 1024;

export interface PointVerification {
  machineId: string;
  pointId: string;
  ok: boolean;
  disks: { diskId: string; expected: string; actual: string; bytesRead: number }[];
}

/**
 * Reads every disk's snapshot of a materialized point and recomputes its digest tree from the
 * bytes. Hydrate records a point's digest from what it wrote (no read-back in steady state), so
 * this pass is what proves the replica holds those bytes: storage that lost or changed a write,
 * or a bug in hydration, shows here. A mismatch raises a critical `replication-integrity` alert;
 * either way the point records when it was verified and the result.
 */
export async function verifyPoint(
  deps: ReplicationDeps,
  machineId: string,
  pointId: string,
): Promise<PointVerification> {
  const found = await pointDocOf(deps, machineId, pointId);
  const point = found.doc;
  if (!isMaterialized(point)) throw notFound('Materialized recovery point', pointId);
  const disks = await Promise.all(
    point.disks.map(async (d) => {
      const digests = new Array<Buffer>(blockCount(d.sizeBytes));
      const ranges = Math.ceil(d.sizeBytes / READ);
      await mapLimit(
        Array.from({ length: ranges }, (_, i) => i),
        4,
        async (i) => {
          const off = i * READ;
          const len = Math.min(READ, d.sizeBytes - off);
          const buf = await deps.blobs.readRange(REPLICAS, d.blob, off, len, d.snapshot);
          for (let b = 0; b < len; b += DIGEST_BLOCK)
            digests[(off + b) / DIGEST_BLOCK] = blockDigest(buf.subarray(b, b + DIGEST_BLOCK));
        },
      );
      return {
        diskId: d.diskId,
        expected: d.sha256,
        actual: treeDigest(digests, d.sizeBytes),
        bytesRead: d.sizeBytes,
      };
    }),
  );
  const ok = disks.every((d) => d.expected === d.actual);
  const now = new Date(deps.clock()).toISOString();
  if (!ok) {
    for (const d of disks.filter((x) => x.expected !== x.actual)) {
      await recordAlert(deps, {
        machineId,
        diskId: d.diskId,
        kind: 'replication-integrity',
        severity: 'critical',
        message: `Recovery point ${pointId}: the snapshot of disk ${d.diskId} does not match the digest recorded when it was hydrated (${d.actual.slice(0, 12)}… ≠ ${d.expected.slice(0, 12)}…).`,
        details: { pointId, expected: d.expected, actual: d.actual },
      });
    }
  }
  // Recorded on the point (a lost race with another writer only loses this note, not data).
  await deps.docs.points
    .replace({ ...point, verified: ok, verifiedAt: now }, { ifMatch: found.etag })
    .catch((e: unknown) => {
      if (!(isHavenError(e) && e.kind === 'precondition')) throw e;
    });
  deps.log?.('recovery point verified', { machineId, pointId, ok });
  return { machineId, pointId, ok, disks };
}

/**
 * The scheduled verification pass: for each machine whose newest verification is older than
 * `everyHours`, the newest materialized point is read back and checked. One machine's failure
 * does not stop the others.
 */
export async function verifyDuePoints(
  deps: ReplicationDeps,
  everyHours: number,
): Promise<{ verified: PointVerification[]; failures: { machineId: string; error: Error }[] }> {
  const verified: PointVerification[] = [];
  const failures: { machineId: string; error: Error }[] = [];
  const now = deps.clock();
  for (const machineId of await deps.machines.listMachineIds()) {
    try {
      const query = (extra: { field: string; op: 'in'; value: boolean[] }[]) =>
        deps.docs.points.query({
          partitionKey: machineId,
          where: [{ field: 'type', op: '=', value: 'point' }, ...extra],
          orderBy: [{ field: 'time', direction: 'desc' }],
          limit: 20,
        });
      const [lastChecked, newest] = await Promise.all([
        query([{ field: 'verified', op: 'in', value: [true, false] }]),
        query([]),
      ]);
      const last = lastChecked.items[0]?.doc as RecoveryPointDoc | undefined;
      if (last?.verifiedAt && now - Date.parse(last.verifiedAt) < everyHours * 3600_000) continue;
      const next = newest.items
        .map((i) => i.doc as RecoveryPointDoc)
        .find((p) => isMaterialized(p) && !p.verifiedAt);
      if (next) verified.push(await verifyPoint(deps, machineId, next.id));
    } catch (e) {
      failures.push({ machineId, error: e as Error });
    }
  }
  return { verified, failures };
}
