import { createHash } from 'node:crypto';
import { integrity, validation } from '../errors';
import { BATCH_MAGIC, ID_PATTERN, MAX_ENVELOPE_BYTES } from './constants';
import type { BatchHeader } from './types';

/**
 * The event body for an envelope too large to ride inline: the agent uploads the envelope to
 * `incoming/<machineId>/<name>` with its narrow SAS, then sends this JSON (content type
 * CLAIM_CONTENT_TYPE). `sha256` is of the whole envelope, so the receiver checks the blob it
 * fetches before opening it.
 */
export interface BatchRef {
  kind: 'ref';
  machineId: string;
  diskId: string;
  generation: number;
  seq: number;
  /** Container-qualified name: `in-<machineId>/<machineId>/<diskId>-<generation>-<seq>-<nonce>`. */
  blob: string;
  size: number;
  sha256: string;
}

/**
 * The container a machine's claim-check uploads go to: one per machine, so the SAS a machine
 * gets (a container SAS: a flat-namespace account cannot scope one to a name prefix) lets it
 * create blobs in its own container only, never under another machine's names.
 * Machine ids the control plane issues (`m-<hex>`) make valid container names as they are;
 * any other id is hashed into one.
 */
export function incomingContainerOf(machineId: string): string {
  const plain = /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(machineId) && machineId.length <= 60;
  return plain
    ? `in-${machineId}`
    : `in-h${createHash('sha256').update(machineId).digest('hex').slice(0, 40)}`;
}

/** Where a claim check's upload is: its machine's container and the name inside it. */
export function claimLocation(ref: Pick<BatchRef, 'blob'>): { container: string; name: string } {
  const slash = ref.blob.indexOf('/');
  return { container: ref.blob.slice(0, slash), name: ref.blob.slice(slash + 1) };
}
export const STAGING_CONTAINER = 'staging';

/** Blob path (without container) of a claim-check upload; unique per envelope via the nonce. */
export function claimBlobPath(
  header: Pick<BatchHeader, 'machineId' | 'diskId' | 'generation' | 'seq' | 'nonce'>,
): string {
  return `${header.machineId}/${header.diskId}-${header.generation}-${header.seq}-${header.nonce}`;
}

/** Staging blob name (container `staging`): `{machineId}/{diskId}/{generation}/{seq as 12 digits}`. */
export function stagingBlobName(
  machineId: string,
  diskId: string,
  generation: number,
  seq: number,
): string {
  return `${machineId}/${diskId}/${generation}/${String(seq).padStart(12, '0')}`;
}

/** sha256 (hex) of an envelope: its identity for claim checks and duplicate detection. */
export function envelopeDigest(envelope: Uint8Array): string {
  return createHash('sha256').update(envelope).digest('hex');
}

export function makeBatchRef(header: BatchHeader, envelope: Uint8Array): BatchRef {
  return {
    kind: 'ref',
    machineId: header.machineId,
    diskId: header.diskId,
    generation: header.generation,
    seq: header.seq,
    blob: `${incomingContainerOf(header.machineId)}/${claimBlobPath(header)}`,
    size: envelope.length,
    sha256: envelopeDigest(envelope),
  };
}

/** True when an event body is an envelope (else it should be a claim-check JSON). */
export function isEnvelope(body: Uint8Array): boolean {
  return body.length >= 4 && Buffer.from(body.buffer, body.byteOffset, 4).equals(BATCH_MAGIC);
}

/** Parses and validates a claim-check body; the blob must sit under incoming/<machineId>/. */
export function parseBatchRef(body: Uint8Array | string): BatchRef {
  let v: unknown;
  try {
    v = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
  } catch {
    throw validation('Claim-check event body is not JSON.');
  }
  if (typeof v !== 'object' || v === null)
    throw validation('Claim-check event body is not an object.');
  const r = v as Record<string, unknown>;
  if (r.kind !== 'ref') throw validation("Claim-check kind must be 'ref'.");
  for (const k of ['machineId', 'diskId'] as const) {
    if (typeof r[k] !== 'string' || !ID_PATTERN.test(r[k] as string))
      throw validation(`Claim-check ${k} is invalid.`);
  }
  for (const k of ['generation', 'seq'] as const) {
    if (!Number.isSafeInteger(r[k]) || (r[k] as number) < 1)
      throw validation(`Claim-check ${k} must be a positive integer.`);
  }
  if (
    !Number.isSafeInteger(r.size) ||
    (r.size as number) < 1 ||
    (r.size as number) > MAX_ENVELOPE_BYTES
  ) {
    throw validation(`Claim-check size must be 1..${MAX_ENVELOPE_BYTES}.`);
  }
  if (typeof r.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.sha256))
    throw validation('Claim-check sha256 is invalid.');
  const prefix = `${incomingContainerOf(r.machineId as string)}/${r.machineId as string}/`;
  if (
    typeof r.blob !== 'string' ||
    !r.blob.startsWith(prefix) ||
    !/^[A-Za-z0-9._-]+$/.test(r.blob.slice(prefix.length))
  ) {
    throw validation(`Claim-check blob must be a plain name under ${prefix}.`);
  }
  return {
    kind: 'ref',
    machineId: r.machineId as string,
    diskId: r.diskId as string,
    generation: r.generation as number,
    seq: r.seq as number,
    blob: r.blob,
    size: r.size as number,
    sha256: r.sha256,
  };
}

/** Checks a fetched claim-check blob against its reference (size, digest, and header identity). */
export function verifyClaimedEnvelope(
  ref: BatchRef,
  envelope: Uint8Array,
  header: BatchHeader,
): void {
  if (envelope.length !== ref.size || envelopeDigest(envelope) !== ref.sha256) {
    throw integrity(`Claim-check blob ${ref.blob} does not match its reference (size or sha256).`);
  }
  if (
    header.machineId !== ref.machineId ||
    header.diskId !== ref.diskId ||
    header.generation !== ref.generation ||
    header.seq !== ref.seq
  ) {
    throw integrity(
      `Claim-check blob ${ref.blob} holds a different batch than its reference names.`,
    );
  }
}
