import { diskGenerations, liveGeneration } from './generations';
import { drainDisk, type HydrateOutcome } from './hydrate';
import { parseStagingName, stagingPrefix, STAGING, type DiskKey } from './names';
import { deleteStaged } from './stagedBatch';
import type { ProtectionSignals, ReplicationDeps, ReplicationOptions } from './ports';

/**
 * The safety net under the blob trigger. A trigger that finds the replica leased answers
 * "busy" and trusts the holder to drain; if the holder died, its lease expires with nobody
 * left to drain, and a missed or dropped blob event (Event Grid delivers at least once, not
 * always promptly) leaves a batch waiting the same way. The sweep drains every disk that has
 * staged batches; a disk already being drained answers busy at no cost.
 */
export async function sweepStaged(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  signals?: ProtectionSignals,
): Promise<{ outcomes: HydrateOutcome[]; failures: { disk: string; error: Error }[] }> {
  const disks = new Map<string, ReturnType<typeof parseStagingName>>();
  for (const item of await deps.blobs.list(STAGING, '')) {
    let key: ReturnType<typeof parseStagingName>;
    try {
      key = parseStagingName(item.name);
    } catch {
      continue; // not a staged batch (ingest never writes one; nothing to drain)
    }
    const id = `${key.machineId}/${key.diskId}/${key.generation}`;
    if (!disks.has(id)) disks.set(id, key);
  }
  const outcomes: HydrateOutcome[] = [];
  const failures: { disk: string; error: Error }[] = [];
  for (const [disk, key] of disks) {
    // One disk's failure (storage hiccup, unknown key) must not starve the others.
    try {
      if (await dropSuperseded(deps, key)) continue;
      outcomes.push(await drainDisk(deps, opts, key, signals));
    } catch (e) {
      failures.push({ disk, error: e as Error });
    }
  }
  return { outcomes, failures };
}

/**
 * Batches of a generation older than the live one can never be applied (ingest refuses them,
 * the replica of a newer generation is what points and failover use): a resync left them
 * behind. Deletes them and says so.
 */
async function dropSuperseded(deps: ReplicationDeps, key: DiskKey): Promise<boolean> {
  const live = liveGeneration(await diskGenerations(deps, key.machineId, key.diskId));
  if (key.generation >= live) return false;
  const prefix = stagingPrefix(key.machineId, key.diskId, key.generation);
  for (const item of await deps.blobs.list(STAGING, prefix))
    await deleteStaged(deps, item.name, item.metadata.batch);
  deps.log?.('hydrate sweep: dropped batches of a superseded generation', { ...key, live });
  return true;
}
