import { conflict } from '../../core/errors';
import { REPLICAS, replicaBlobName } from '../../core/replication/names';
import {
  isVhdFooter,
  replicaBlobSize,
  replicaFooter,
  VHD_FOOTER_BYTES,
} from '../../core/disk/vhdFooter';
import { protectionDeps } from './protectionDeps';

/**
 * The replica page blob of one disk generation, as the enable-protection, resync and re-enable
 * sagas create it (sized, with its VHD footer) and as their compensation deletes it (only the
 * owning job's, never the hydrator's or another job's).
 */
export interface ReplicaInput {
  machineId: string;
  diskId: string;
  sizeBytes: number;
  generation: number;
  /** Job (instance) id that owns the replica; only its owner's compensation deletes it. */
  owner: string;
  /** Deterministic creation time (orchestration clock) for the VHD footer. */
  createdAt: string;
}

export async function createReplica(
  input: ReplicaInput,
): Promise<{ blob: string; created: boolean }> {
  const { blobs } = await protectionDeps();
  await blobs.ensureContainer(REPLICAS);
  const blob = replicaBlobName(input.machineId, input.diskId, input.generation);
  const size = replicaBlobSize(input.sizeBytes);
  // If-None-Match: * — a re-run (or the hydrator having been first) finds the blob and keeps it.
  const created = await blobs.createPageBlob(REPLICAS, blob, size, {
    machineId: input.machineId,
    diskId: input.diskId,
    generation: String(input.generation),
    diskSize: String(input.sizeBytes),
    createdBy: input.owner,
  });
  const props = await blobs.getProperties(REPLICAS, blob);
  if (props && props.size !== size) {
    throw conflict(`Replica ${blob} exists with size ${props.size}, expected ${size}.`);
  }
  const footerAt = size - VHD_FOOTER_BYTES;
  const tail = await blobs.readRange(REPLICAS, blob, footerAt, VHD_FOOTER_BYTES);
  if (!isVhdFooter(tail) && props?.leaseState !== 'leased') {
    // Deterministic bytes: a re-run writes exactly the same footer. A leased replica belongs to
    // the hydrator, which writes its own footer under its lease.
    await blobs.uploadPages(
      REPLICAS,
      blob,
      footerAt,
      replicaFooter(input.sizeBytes, blob, Date.parse(input.createdAt)),
    );
  }
  return { blob, created: created === 'created' };
}

export async function deleteReplica(input: ReplicaInput): Promise<'deleted' | 'absent' | 'kept'> {
  const { blobs } = await protectionDeps();
  const blob = replicaBlobName(input.machineId, input.diskId, input.generation);
  const props = await blobs.getProperties(REPLICAS, blob);
  if (!props) return 'absent';
  // Metadata names are case-insensitive in Azure Storage (some stacks return them lower-cased).
  const owner = Object.entries(props.metadata).find(([k]) => k.toLowerCase() === 'createdby')?.[1];
  if (owner !== input.owner) return 'kept'; // not ours: another job's replica (or the hydrator's)
  if (props.leaseState === 'leased') await blobs.breakLease(REPLICAS, blob, 0);
  await blobs.deleteBlob(REPLICAS, blob);
  return 'deleted';
}
