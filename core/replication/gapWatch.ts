import { stagingBlobName } from '../batch';
import { stopDisk } from './incidents';
import { STAGING } from './names';
import { ingestOrphanedClaims, type DiskGeneration } from './orphanedClaims';
import {
  DEFAULT_REPLICATION_OPTIONS,
  type ReplicationDeps,
  type ReplicationOptions,
} from './ports';
import { diskDocId } from './state';

/**
 * The default wait (`ReplicationOptions.gapGraceMs`) for a seq while later ones are staged.
 * Ingest retries a failed invocation until it succeeds and a machine's events arrive in order
 * on its partition, so a wait longer than a few retries means the batch is not coming: the hub
 * dropped it (an ingest outage longer than its retention) or it was never sent. Nothing past
 * it can become durable or be applied.
 */
export const GAP_GRACE_MS = DEFAULT_REPLICATION_OPTIONS.gapGraceMs;

/** What a pass did for a generation: gave its lost batches back from their uploads, or stopped it. */
export type GapOutcome =
  | (DiskGeneration & { action: 'recovered'; seqs: number[] })
  | (DiskGeneration & {
      action: 'stopped';
      missingSeq: number;
      stagedUpTo: number;
      recovered: number[];
    });

/**
 * Settles each disk generation of the machine whose frontier has waited longer than the grace
 * for a batch. The batches it waits for whose claim-check uploads are still there are ingested
 * from them (orphanedClaims.ts: their events were lost, their data was not). Once one has no
 * upload, the generation stops (a `replication-gap` alert says which): it cannot go on, and a
 * stopped live generation is what the automatic resync looks for (controlPlane/autoResyncs.ts).
 * A generation the control plane has moved past, or already stopped, is left alone.
 */
export async function settleGaps(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  machineId: string,
): Promise<GapOutcome[]> {
  const now = deps.clock();
  const [machine, frontiers] = await Promise.all([
    deps.machines.getMachine(machineId),
    deps.docs.frontiers.query({ partitionKey: machineId, limit: 1000 }),
  ]);
  const out: GapOutcome[] = [];
  for (const { doc: f } of frontiers.items) {
    if (!f.gap || now - Date.parse(f.gap.since) < opts.gapGraceMs) continue;
    const disk = machine?.disks.find((d) => d.diskId === f.diskId);
    if (!disk || (disk.generation !== undefined && disk.generation !== f.generation)) continue;
    const key = { machineId, diskId: f.diskId, generation: f.generation };
    const generationDoc = () => deps.docs.disks.get(machineId, diskDocId(f.diskId, f.generation));
    const gen = await generationDoc();
    if (gen?.doc.stopped) continue;
    // The frontier moves only on ingest: the batch may have come since in an invocation that
    // died before recording it (staged, maybe applied), with nothing ingested after it.
    if ((gen?.doc.appliedSeq ?? 0) >= f.gap.seq) continue;
    const missing = stagingBlobName(machineId, f.diskId, f.generation, f.gap.seq);
    if (await deps.blobs.getProperties(STAGING, missing)) continue;
    const stagedUpTo = Math.max(...f.ahead);
    const { recovered, lost } = await ingestOrphanedClaims(
      deps,
      opts,
      key,
      f.gap.seq,
      stagedUpTo,
      new Set(f.ahead),
    );
    if (lost === undefined) {
      out.push({ ...key, action: 'recovered', seqs: recovered });
      continue;
    }
    // Ingest may have stopped it already, on a recovered batch that conflicts with what it has.
    if ((await generationDoc())?.doc.stopped) continue;
    const minutes = Math.round((now - Date.parse(f.gap.since)) / 60_000);
    await stopDisk(
      deps,
      { ...key, diskSize: disk.sizeBytes, seq: lost },
      'replication-gap',
      `Batch ${lost} of disk ${f.diskId} (generation ${f.generation}) has not arrived in ${minutes} minutes while batches up to ${stagedUpTo} are staged, and no upload of it is left that ingest takes: it is lost, and nothing after it can be applied. The disk resyncs.`,
      { missingSeq: lost, stagedUpTo, waitingSince: f.gap.since, recoveredFromUploads: recovered },
    );
    out.push({ ...key, action: 'stopped', missingSeq: lost, stagedUpTo, recovered });
  }
  return out;
}
