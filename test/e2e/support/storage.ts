import { createHash } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { envelopeDigest, stagingBlobName } from '../../../core/batch';
import type { AdminTarget } from '../../support/adminApi';
import type { Machine } from './machine';

const service = (stack: AdminTarget) =>
  BlobServiceClient.fromConnectionString(stack.env.HAVEN_STORAGE_CONNECTION!);

/** The replicas' account: their own when the stack has one (as deployed), else the main one. */
const replicaService = (stack: AdminTarget) =>
  BlobServiceClient.fromConnectionString(
    stack.env.HAVEN_REPLICA_STORAGE_CONNECTION ?? stack.env.HAVEN_STORAGE_CONNECTION!,
  );

/** The live replica's page blob (`replicas/{m}/{d}/g1.vhd`). */
const liveReplica = (stack: AdminTarget, m: Machine) =>
  replicaService(stack)
    .getContainerClient('replicas')
    .getBlobClient(`${m.machineId}/${m.diskId}/g1.vhd`);

/**
 * Puts `bytes` into `staging/` under the name batch `seq` will be staged as. With `asIngested`
 * the metadata records the digest of `genuine` (what ingest records), as if the blob rotted
 * after ingest; without it the blob looks like something written around ingest.
 */
export async function plantStaged(
  stack: AdminTarget,
  m: Machine,
  seq: number,
  bytes: Buffer,
  genuine: Buffer,
  asIngested: boolean,
): Promise<void> {
  const c = service(stack).getContainerClient('staging');
  await c.createIfNotExists();
  await c.getBlockBlobClient(stagingBlobName(m.machineId, m.diskId, 1, seq)).uploadData(bytes, {
    metadata: asIngested ? { sha256: envelopeDigest(genuine), size: String(genuine.length) } : {},
  });
}

/** sha256 of the live replica's disk bytes (page blob `replicas/{m}/{d}/g1.vhd`, footer excluded). */
export async function replicaSha(
  stack: AdminTarget,
  m: Machine,
  sizeBytes: number,
): Promise<string> {
  const b = liveReplica(stack, m);
  const data = await b.downloadToBuffer(0, sizeBytes);
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Takes the replica's lease as a hydrator would, and never releases it: what a hydrator that
 * died mid-drain leaves behind (the lease runs out after `seconds`).
 */
export async function leaseReplicaAndDie(
  stack: AdminTarget,
  m: Machine,
  seconds: number,
): Promise<void> {
  const b = liveReplica(stack, m);
  await b.getBlobLeaseClient().acquireLease(seconds);
}

/** Breaks whatever lease the live replica has (what its expiry would do, without the wait). */
export async function breakReplicaLease(stack: AdminTarget, m: Machine): Promise<void> {
  const b = liveReplica(stack, m);
  await b.getBlobLeaseClient().breakLease(0);
}
