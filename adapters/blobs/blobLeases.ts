import type { BlobClient } from '@azure/storage-blob';
import { HavenError } from '../../core/errors';
import { callStorage, isStatus, storageCode } from './storageErrors';

/** The lease calls of one blob, with the port's answers for leases taken, lost or gone. */

/** What Azure answers an acquire when another holder has the lease (or it is being broken). */
const HELD = new Set(['LeaseAlreadyPresent', 'LeaseIsBreakingAndCannotBeAcquired']);

/** Undefined when another holder has the lease; any other refusal is an error, not "busy". */
export async function acquireLease(
  blob: BlobClient,
  durationSec: number,
  proposedLeaseId?: string,
): Promise<string | undefined> {
  const lease = blob.getBlobLeaseClient(proposedLeaseId);
  try {
    const r = await callStorage(() => lease.acquireLease(durationSec));
    return r.leaseId ?? lease.leaseId;
  } catch (e) {
    if (isStatus(e, 409) && HELD.has(storageCode(e))) return undefined;
    throw e;
  }
}

export async function renewLease(blob: BlobClient, leaseId: string): Promise<void> {
  await callStorage(() => blob.getBlobLeaseClient(leaseId).renewLease());
}

export async function releaseLease(blob: BlobClient, leaseId: string): Promise<void> {
  try {
    await callStorage(() => blob.getBlobLeaseClient(leaseId).releaseLease());
  } catch (e) {
    // Already released, expired and taken, or blob gone: nothing of ours to release.
    if (e instanceof HavenError && e.kind === 'conflict') return;
    if (isStatus(e, 404)) return;
    throw e;
  }
}

export async function breakLease(blob: BlobClient, breakPeriodSec: number): Promise<void> {
  try {
    await callStorage(() => blob.getBlobLeaseClient().breakLease(breakPeriodSec));
  } catch (e) {
    if (e instanceof HavenError && e.kind === 'conflict') return; // no lease to break
    throw e;
  }
}
