import type { Collection } from '../documents/ports';
import type { DiskReplicationDoc, StagedFrontierDoc } from '../replication/state';
import type { DiskView, Machines } from './machines';

/** A disk as the agent sees it: which generation to send, and how far the cloud has it. */
export interface AgentDiskView extends DiskView {
  /** Highest seq of the current generation the replica holds (0 = nothing yet). */
  appliedSeq: number;
  /**
   * Every seq of the current generation up to this one is stored in Azure (staged or applied):
   * the agent may forget those batches; one it sent past this that does not come is sent again.
   */
  stagedSeq: number;
  /** Seqs stored past `stagedSeq` (a gap before them): the agent sends again exactly what is missing. */
  stagedAhead: number[];
}

/**
 * The machine's disks for its agent (`GET machines/{id}/disks`, polled while it replicates):
 * the generation to send and, for that generation, the replica's and the staging frontier's
 * seqs, which end the agent's copy of what it sent (its spool keeps a sent batch until then).
 */
export async function agentDisksOf(
  machines: Pick<Machines, 'listDisks'>,
  generations: Collection<DiskReplicationDoc>,
  frontiers: Collection<StagedFrontierDoc>,
  machineId: string,
): Promise<AgentDiskView[]> {
  const [disks, gens, fronts] = await Promise.all([
    machines.listDisks(machineId),
    generations.query({ partitionKey: machineId, limit: 1000 }),
    frontiers.query({ partitionKey: machineId, limit: 1000 }),
  ]);
  const of = <T extends { diskId: string; generation: number }>(items: { doc: T }[], d: DiskView) =>
    items.find((g) => g.doc.diskId === d.id && g.doc.generation === d.generation)?.doc;
  return disks.map((d) => {
    const appliedSeq = of(gens.items, d)?.appliedSeq ?? 0;
    // The frontier moves on ingest; a batch applied by an invocation that died before recording
    // it on the frontier is held by the replica all the same.
    const frontier = of(fronts.items, d);
    const stagedSeq = Math.max(appliedSeq, frontier?.stagedSeq ?? 0);
    const stagedAhead = (frontier?.ahead ?? []).filter((s) => s > stagedSeq);
    return { ...d, appliedSeq, stagedSeq, stagedAhead };
  });
}
