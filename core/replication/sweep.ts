import { isHavenError } from '../errors';
import { diskGenerations, liveGeneration } from './generations';
import { drainDisk, type HydrateOutcome } from './hydrate';
import { parseStagingName, stagingPrefix, STAGING, type DiskKey } from './names';
import { materializeUpTo } from './materialize';
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
      const superseded = await isSuperseded(deps, key);
      outcomes.push(await drainDisk(deps, opts, key, signals));
      if (superseded) await dropSuperseded(deps, key);
    } catch (e) {
      failures.push({ disk, error: e as Error });
    }
  }
  for (const machineId of await deps.machines.listMachineIds()) {
    try {
      await settleDurablePoints(deps, opts, machineId, signals);
    } catch (e) {
      failures.push({ disk: machineId, error: e as Error });
    }
  }
  return { outcomes, failures };
}

/**
 * Durable points still waiting to be materialized, oldest first, get one round of
 * `materializeUpTo`: a hydrator that died after its watermark moved past a bookmark but before
 * it recorded the point's snapshots would otherwise leave the point durable forever (nothing
 * else brings hydration back to a bookmark it passed). Stops at the first one still pending:
 * the newer ones wait behind it on the same disks.
 */
async function settleDurablePoints(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  machineId: string,
  signals?: ProtectionSignals,
): Promise<void> {
  const page = await deps.docs.points.query({
    partitionKey: machineId,
    where: [
      { field: 'type', op: '=', value: 'point' },
      { field: 'materialized', op: '=', value: false },
    ],
    orderBy: [{ field: 'time', direction: 'desc' }],
    limit: 100,
  });
  for (const { doc } of [...page.items].reverse()) {
    // Not pinned: nobody waits for it, and a hydrator catching up may still merge past it
    // (then it is gone by the time it is looked at).
    const m = await materializeUpTo(deps, opts, machineId, doc.id, signals, false).catch(
      (e: unknown) => {
        if (isHavenError(e) && e.kind === 'not-found') return undefined;
        throw e;
      },
    );
    if (m?.state === 'pending') return;
  }
}

async function isSuperseded(deps: ReplicationDeps, key: DiskKey): Promise<boolean> {
  const live = liveGeneration(await diskGenerations(deps, key.machineId, key.diskId));
  return key.generation < live;
}

/**
 * Batches of a generation older than the live one are left by a resync: ingest refuses more of
 * them and the newer replica is what new points use. The sweep drains them first (a durable
 * point of the old generation still materializes from them); what cannot be applied (past a
 * gap, or the disk stopped) is deleted here, and the log says so.
 */
async function dropSuperseded(deps: ReplicationDeps, key: DiskKey): Promise<void> {
  const live = liveGeneration(await diskGenerations(deps, key.machineId, key.diskId));
  const prefix = stagingPrefix(key.machineId, key.diskId, key.generation);
  for (const item of await deps.blobs.list(STAGING, prefix))
    await deleteStaged(deps, item.name, item.metadata.batch);
  deps.log?.('hydrate sweep: dropped batches of a superseded generation', { ...key, live });
}
