import { randomUUID } from 'node:crypto';
import { conflict, HavenError, validation } from '../../core/errors';
import { PAGE } from '../../core/replication/blobPorts';

/**
 * One blob of the in-memory store and its lease rules, as the service keeps them: a write
 * under an active lease needs its id, a lease id given without an active lease is refused.
 */
export interface MemBlob {
  kind: 'page' | 'block';
  data: Buffer;
  metadata: Record<string, string>;
  etag: number;
  lease?: { id: string; until: number; durationSec: number; broken?: boolean };
  snapshots: Map<string, { data: Buffer; metadata: Record<string, string> }>;
}

export const blobNotFound = () => new HavenError('not-found', 'blob not found', { status: 404 });

export function leaseActive(b: MemBlob): boolean {
  return !!b.lease && !b.lease.broken && b.lease.until > Date.now();
}

export function checkWritable(b: MemBlob, leaseId?: string): void {
  const active = leaseActive(b);
  if (active && b.lease!.id !== leaseId)
    throw conflict('lease id missing or wrong', { status: 412 });
  if (!active && leaseId) throw conflict('lease lost', { status: 412 });
}

/** The lease id taken, or undefined when another holder has it (a negative duration: infinite). */
export function takeLease(
  b: MemBlob,
  durationSec: number,
  proposedLeaseId?: string,
): string | undefined {
  if (leaseActive(b) && b.lease!.id !== proposedLeaseId) return undefined;
  const id = proposedLeaseId ?? randomUUID();
  b.lease = {
    id,
    durationSec,
    until: durationSec < 0 ? Number.MAX_SAFE_INTEGER : Date.now() + durationSec * 1000,
  };
  return id;
}

export function leaseStateOf(b: MemBlob): 'leased' | 'broken' | 'available' {
  return leaseActive(b) ? 'leased' : b.lease?.broken ? 'broken' : 'available';
}

export function alignedRange(offset: number, length: number, size: number): void {
  if (offset % PAGE !== 0 || length % PAGE !== 0) throw validation('page range not 512-aligned');
  if (offset < 0 || offset + length > size) throw validation('page range beyond end of blob');
}

/** The ETag as the service sends it: quoted. */
export const etagOf = (b: MemBlob): string => `"${b.etag}"`;

export function renewLease(b: MemBlob | undefined, leaseId: string): void {
  if (!b?.lease || b.lease.id !== leaseId || b.lease.broken)
    throw conflict('lease lost', { status: 409 });
  // Like the service: the lease runs its original duration again from now.
  if (b.lease.durationSec >= 0) b.lease.until = Date.now() + b.lease.durationSec * 1000;
}

export function releaseLease(b: MemBlob | undefined, leaseId: string): void {
  if (b?.lease?.id === leaseId) b.lease = undefined;
}

export function breakLease(b: MemBlob | undefined): void {
  if (b?.lease) b.lease.broken = true;
}
