import type { ReplicationDeps } from './ports';
import type { DiskReplicationDoc } from './state';

/** The watermark documents of every generation of a disk. */
export async function diskGenerations(
  deps: ReplicationDeps,
  machineId: string,
  diskId: string,
): Promise<DiskReplicationDoc[]> {
  const gens = await deps.docs.disks.query({
    partitionKey: machineId,
    where: [{ field: 'diskId', op: '=', value: diskId }],
    limit: 1000,
  });
  return gens.items.map((i) => i.doc);
}

/**
 * The newest generation that published a point (0 if none): the replica failover uses. An
 * older generation is superseded: nothing of it is staged or applied any more.
 */
export function liveGeneration(docs: readonly DiskReplicationDoc[]): number {
  return Math.max(0, ...docs.filter((d) => d.complete).map((d) => d.generation));
}
