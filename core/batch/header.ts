import { HavenError, integrity, validation } from '../errors';
import {
  BATCH_MAGIC,
  ENVELOPE_PREFIX_BYTES,
  GCM_TAG_BYTES,
  MAX_ENVELOPE_BYTES,
  MAX_HEADER_BYTES,
} from './constants';
import type { BatchHeader } from './types';
import { validateHeader } from './validateHeader';

export interface EnvelopeParts {
  headerBytes: Buffer;
  header: BatchHeader;
  ciphertext: Buffer;
  tag: Buffer;
}

/**
 * Splits an envelope into its parts and validates the header, without any key. Everything
 * it returns is unauthenticated until decodeBatch has checked the GCM tag.
 */
export function splitEnvelope(buf: Uint8Array): EnvelopeParts {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < ENVELOPE_PREFIX_BYTES + 2 + GCM_TAG_BYTES) {
    throw integrity(`Batch envelope is truncated: ${b.length} bytes is shorter than any batch.`);
  }
  const cipherStart = headerPrefixLength(b.subarray(0, ENVELOPE_PREFIX_BYTES), b.length);
  if (cipherStart + GCM_TAG_BYTES > b.length) {
    const headerLength = cipherStart - ENVELOPE_PREFIX_BYTES;
    throw integrity(
      `Batch envelope is truncated: header length ${headerLength} leaves no room for the GCM tag in ${b.length} bytes.`,
    );
  }
  const headerBytes = b.subarray(ENVELOPE_PREFIX_BYTES, cipherStart);
  const header = headerOf(headerBytes, b.length - cipherStart - GCM_TAG_BYTES);
  const ciphertext = b.subarray(cipherStart, b.length - GCM_TAG_BYTES);
  return { headerBytes, header, ciphertext, tag: b.subarray(b.length - GCM_TAG_BYTES) };
}

/** Parses and validates header bytes against the ciphertext length the envelope has. */
function headerOf(headerBytes: Uint8Array, ciphertextBytes: number): BatchHeader {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch {
    throw integrity('Batch header is not valid UTF-8 JSON.');
  }
  const header = validateHeader(parsed);
  const expected = ciphertextLength(header);
  if (ciphertextBytes !== expected) {
    throw integrity(
      `Batch payload is ${ciphertextBytes} bytes but the header describes ${expected} (truncated or lying header).`,
      { machineId: header.machineId, diskId: header.diskId, seq: header.seq },
    );
  }
  return header;
}

/**
 * The header of an envelope, for routing (partitioning, blob naming, ordering) before the
 * data key is at hand. NOT authenticated: anything that trusts it must decodeBatch first.
 */
export function peekHeader(buf: Uint8Array): BatchHeader {
  return splitEnvelope(buf).header;
}

/**
 * How many leading bytes of an envelope of `envelopeLength` bytes hold its header (magic and
 * header length checked on the first 8): what to read of a claim-check upload to peek at it.
 */
export function headerPrefixLength(first8: Uint8Array, envelopeLength: number): number {
  const b = Buffer.from(first8.buffer, first8.byteOffset, first8.byteLength);
  if (b.length < ENVELOPE_PREFIX_BYTES || !b.subarray(0, 4).equals(BATCH_MAGIC))
    throw integrity('Batch envelope does not start with the HVB1 magic.');
  if (envelopeLength > MAX_ENVELOPE_BYTES) {
    throw new HavenError(
      'too-large',
      `Batch envelope is ${envelopeLength} bytes; the limit is ${MAX_ENVELOPE_BYTES}.`,
    );
  }
  const headerLength = b.readUInt32BE(4);
  if (headerLength > MAX_HEADER_BYTES)
    throw validation(`Batch header is ${headerLength} bytes; the limit is ${MAX_HEADER_BYTES}.`);
  return ENVELOPE_PREFIX_BYTES + headerLength;
}

/**
 * peekHeader from the first bytes of an envelope (at least `headerPrefixLength` of them) and
 * its total length: the same checks, the payload's length included, without the payload.
 */
export function peekHeaderPrefix(prefix: Uint8Array, envelopeLength: number): BatchHeader {
  const need = headerPrefixLength(prefix.subarray(0, ENVELOPE_PREFIX_BYTES), envelopeLength);
  if (prefix.length < need) throw integrity('Batch envelope is truncated inside its header.');
  if (envelopeLength < need + GCM_TAG_BYTES) {
    throw integrity(
      `Batch envelope is truncated: ${envelopeLength} bytes leave no room for the GCM tag.`,
    );
  }
  return headerOf(
    prefix.subarray(ENVELOPE_PREFIX_BYTES, need),
    envelopeLength - need - GCM_TAG_BYTES,
  );
}

/** Plain bytes of a batch's data extents (what MAX_BATCH_BYTES and MAX_INLINE_DATA_BYTES bound). */
export function dataBytes(header: Pick<BatchHeader, 'extents'>): number {
  return header.extents.reduce((n, e) => n + (e.kind === 'data' ? e.length : 0), 0);
}

export function ciphertextLength(header: BatchHeader): number {
  let n = 0;
  for (const e of header.extents) n += e.encodedLength;
  return n;
}
