import { stagingBlobName } from '../batch';
import { stopDisk } from './incidents';
import { STAGING } from './names';
import { DEFAULT_REPLICATION_OPTIONS, type ReplicationDeps } from './ports';
import { diskDocId } from './state';

/**
 * The default wait (`ReplicationOptions.gapGraceMs`) for a seq while later ones are staged.
 * Ingest retries a failed invocation until it succeeds and a machine's events arrive in order
 * on its partition, so a wait longer than a few retries means the batch is not coming: the hub
 * dropped it (an ingest outage longer than its retention) or it was never sent. Nothing past
 * it can become durable or be applied.
 */
export const GAP_GRACE_MS = DEFAULT_REPLICATION_OPTIONS.gapGraceMs;

export interface StoppedGap {
  machineId: string;
  diskId: string;
  generation: number;
  missingSeq: number;
  stagedUpTo: number;
}

/**
 * Stops each disk generation of the machine whose frontier has waited longer than `graceMs` for
 * a batch (a `replication-gap` alert says which): the generation cannot go on, and a stopped
 * live generation is what the automatic resync looks for (controlPlane/autoResyncs.ts). A
 * generation the control plane has moved past, or already stopped, is left alone.
 */
export async function stopLostBatches(
  deps: ReplicationDeps,
  machineId: string,
  graceMs = GAP_GRACE_MS,
): Promise<StoppedGap[]> {
  const now = deps.clock();
  const [machine, frontiers] = await Promise.all([
    deps.machines.getMachine(machineId),
    deps.docs.frontiers.query({ partitionKey: machineId, limit: 1000 }),
  ]);
  const stopped: StoppedGap[] = [];
  for (const { doc: f } of frontiers.items) {
    if (!f.gap || now - Date.parse(f.gap.since) < graceMs) continue;
    const disk = machine?.disks.find((d) => d.diskId === f.diskId);
    if (!disk || (disk.generation !== undefined && disk.generation !== f.generation)) continue;
    const gen = await deps.docs.disks.get(machineId, diskDocId(f.diskId, f.generation));
    if (gen?.doc.stopped) continue;
    // The frontier moves only on ingest: the batch may have come since in an invocation that
    // died before recording it (staged, maybe applied), with nothing ingested after it.
    if ((gen?.doc.appliedSeq ?? 0) >= f.gap.seq) continue;
    const missing = stagingBlobName(machineId, f.diskId, f.generation, f.gap.seq);
    if (await deps.blobs.getProperties(STAGING, missing)) continue;
    const stagedUpTo = Math.max(...f.ahead);
    const minutes = Math.round((now - Date.parse(f.gap.since)) / 60_000);
    await stopDisk(
      deps,
      {
        machineId,
        diskId: f.diskId,
        generation: f.generation,
        diskSize: disk.sizeBytes,
        seq: f.gap.seq,
      },
      'replication-gap',
      `Batch ${f.gap.seq} of disk ${f.diskId} (generation ${f.generation}) has not arrived in ${minutes} minutes while batches up to ${stagedUpTo} are staged: it is lost, and nothing after it can be applied. The disk resyncs.`,
      { missingSeq: f.gap.seq, stagedUpTo, waitingSince: f.gap.since },
    );
    stopped.push({
      machineId,
      diskId: f.diskId,
      generation: f.generation,
      missingSeq: f.gap.seq,
      stagedUpTo,
    });
  }
  return stopped;
}
