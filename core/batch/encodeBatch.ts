import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { validation } from '../errors';
import { DEFAULT_CODEC, compress, pays } from './codec';
import { CompressionProbe } from './compressionProbe';
import {
  BATCH_MAGIC,
  DATA_KEY_BYTES,
  ENVELOPE_PREFIX_BYTES,
  GCM_NONCE_BYTES,
  GCM_TAG_BYTES,
  MAX_HEADER_BYTES,
} from './constants';
import { validateHeader } from './validateHeader';
import type { BatchHeader, BatchHeaderInput, Codec, ExtentHeader, ExtentInput } from './types';

export interface EncodeOptions {
  /** Codec tried on the data extents (kept only when it pays; see CompressionProbe). Default zstd. */
  codec?: Codec;
}

/**
 * Builds a sealed batch envelope:
 *   'HVB1' | u32 BE header length | header JSON | AES-256-GCM(ciphertext) | 16-byte tag
 * with AAD = header bytes. A fresh random 96-bit nonce per call: an envelope is encoded once
 * and then stored (spool) and resent byte-identical, so a nonce never covers two plaintexts.
 * Extents must be sorted, disjoint and 512-aligned; the result passes validateHeader.
 */
export function encodeBatch(
  input: BatchHeaderInput,
  extents: readonly ExtentInput[],
  key: Uint8Array,
  options: EncodeOptions = {},
): Buffer {
  if (key.length !== DATA_KEY_BYTES) {
    throw validation(`A batch data key is ${DATA_KEY_BYTES} bytes, got ${key.length}.`);
  }
  const codec = options.codec ?? DEFAULT_CODEC;
  const parts: Buffer[] = [];
  const described: ExtentHeader[] = [];
  let at = 0;
  const probe = new CompressionProbe();
  for (const e of extents) {
    if (e.kind === 'zero') {
      described.push({
        offset: e.offset,
        length: e.length,
        kind: 'zero',
        codec: 'none',
        at,
        encodedLength: 0,
      });
      continue;
    }
    const plain = Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    const sha256 = createHash('sha256').update(plain).digest('hex');
    let used: Codec = 'none';
    let bytes = plain;
    if (codec !== 'none' && plain.length > 0 && probe.shouldTry()) {
      const c = compress(codec, plain);
      const paid = pays(plain.length, c.length);
      probe.record(paid);
      if (paid) {
        used = codec;
        bytes = c;
      }
    }
    described.push({
      offset: e.offset,
      length: plain.length,
      kind: 'data',
      sha256,
      codec: used,
      at,
      encodedLength: bytes.length,
    });
    parts.push(bytes);
    at += bytes.length;
  }
  const nonce = randomBytes(GCM_NONCE_BYTES);
  const header: BatchHeader = {
    v: 1,
    machineId: input.machineId,
    diskId: input.diskId,
    generation: input.generation,
    seq: input.seq,
    ...(input.baseSeq !== undefined ? { baseSeq: input.baseSeq } : {}),
    ...(input.bookmark ? { bookmark: input.bookmark } : {}),
    diskSize: input.diskSize,
    extents: described,
    cipher: 'aes-256-gcm',
    keyId: input.keyId,
    nonce: nonce.toString('hex'),
    ...(input.direction ? { direction: input.direction } : {}),
  };
  // Same rules as the receiver: the agent must never produce a batch the cloud refuses.
  validateHeader(header);
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  if (headerBytes.length > MAX_HEADER_BYTES) {
    throw validation(
      `Batch header would be ${headerBytes.length} bytes; the limit is ${MAX_HEADER_BYTES}.`,
    );
  }
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(headerBytes);
  const out = Buffer.allocUnsafe(ENVELOPE_PREFIX_BYTES + headerBytes.length + at + GCM_TAG_BYTES);
  BATCH_MAGIC.copy(out, 0);
  out.writeUInt32BE(headerBytes.length, 4);
  headerBytes.copy(out, ENVELOPE_PREFIX_BYTES);
  let pos = ENVELOPE_PREFIX_BYTES + headerBytes.length;
  for (const p of parts) pos += cipher.update(p).copy(out, pos);
  pos += cipher.final().copy(out, pos);
  cipher.getAuthTag().copy(out, pos);
  return out;
}
