import { STAGING, parseStagingName, stagingPrefix } from '../replication/names';
import type { ReplicationDeps } from '../replication/ports';

/**
 * The `latest` point choice's first step: is everything ingest already accepted for the
 * machine processed (hydrated, and its points published)? Lowest RPO means waiting for that
 * before taking the newest point. Kept behind this one function: once points become durable
 * before they are materialized (the data path's redesign), "latest" becomes "the newest
 * durable point, materialized first", and only this changes.
 *
 * What counts as accepted: a staged batch (container `staging`) of the disk's generation that
 * the replica's watermark has not reached. Hydrate deletes staged batches it applied, so what
 * is left above the watermark is the backlog.
 */
export interface LatestBacklog {
  /** Staged batches not yet applied, over every disk. */
  batches: number;
  /** Per disk: the highest staged seq and the applied watermark. */
  disks: { diskId: string; generation: number; stagedSeq: number; appliedSeq: number }[];
}

export async function latestPointBacklog(
  deps: ReplicationDeps,
  machineId: string,
): Promise<LatestBacklog> {
  const [staged, gens] = await Promise.all([
    deps.blobs.list(STAGING, stagingPrefix(machineId), { max: 100_000 }),
    deps.docs.disks.query({ partitionKey: machineId, limit: 1000 }),
  ]);
  const applied = new Map(
    gens.items.map(({ doc }) => [`${doc.diskId}/${doc.generation}`, doc.appliedSeq]),
  );
  const newest = new Map<string, number>();
  for (const { doc } of gens.items)
    newest.set(doc.diskId, Math.max(newest.get(doc.diskId) ?? 0, doc.generation));
  const perDisk = new Map<string, LatestBacklog['disks'][number]>();
  let batches = 0;
  for (const b of staged) {
    let k;
    try {
      k = parseStagingName(b.name);
    } catch {
      continue; // not a batch (foreign blob): nothing to wait for
    }
    // A superseded generation's leftovers are never applied: nothing to wait for.
    if (k.generation < (newest.get(k.diskId) ?? 0)) continue;
    const key = `${k.diskId}/${k.generation}`;
    const appliedSeq = applied.get(key) ?? 0;
    if (k.seq <= appliedSeq) continue;
    batches++;
    const cur = perDisk.get(key);
    if (!cur || cur.stagedSeq < k.seq)
      perDisk.set(key, {
        diskId: k.diskId,
        generation: k.generation,
        stagedSeq: k.seq,
        appliedSeq,
      });
  }
  return { batches, disks: [...perDisk.values()] };
}
