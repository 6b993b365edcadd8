import { drainDisk, type HydrateOutcome } from './hydrate';
import { parseStagingName, STAGING } from './names';
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
      outcomes.push(await drainDisk(deps, opts, key, signals));
    } catch (e) {
      failures.push({ disk, error: e as Error });
    }
  }
  return { outcomes, failures };
}
