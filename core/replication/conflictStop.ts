import type { BatchHeader } from '../batch';
import { recordRejection, stopDisk } from './incidents';
import type { ReplicationDeps } from './ports';

/**
 * Stops the disk on a batch whose seq is already recorded with other content, and records the
 * rejection: two different batches under one seq cannot both be the disk's history.
 */
export async function conflictStop(
  deps: ReplicationDeps,
  h: BatchHeader,
  name: string,
  digest: string,
  existing: string,
): Promise<{ status: 'conflict'; stagingName: string; reason: string }> {
  const reason = `Conflicting batch: disk ${h.diskId} g${h.generation} seq ${h.seq} arrived with sha256 ${digest.slice(0, 12)}… but ${existing.slice(0, 12)}… is already recorded; the disk is stopped.`;
  await stopDisk(
    deps,
    {
      machineId: h.machineId,
      diskId: h.diskId,
      generation: h.generation,
      diskSize: h.diskSize,
      seq: h.seq,
    },
    'replication-conflict',
    reason,
    { stagingName: name, sha256: digest, existingSha256: existing },
  );
  await recordRejection(deps, {
    machineId: h.machineId,
    diskId: h.diskId,
    generation: h.generation,
    seq: h.seq,
    kind: 'conflict',
    reason,
    source: {},
  });
  return { status: 'conflict', stagingName: name, reason };
}
