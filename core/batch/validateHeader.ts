import { validation } from '../errors';
import {
  BATCH_ALIGN,
  GCM_NONCE_BYTES,
  ID_PATTERN,
  MAX_BATCH_BYTES,
  MAX_DISK_BYTES,
  MAX_EXTENTS_PER_BATCH,
} from './constants';
import type { BatchBookmark, BatchHeader, Codec, ExtentHeader } from './types';

const HEADER_KEYS = new Set([
  'v',
  'machineId',
  'diskId',
  'generation',
  'seq',
  'baseSeq',
  'bookmark',
  'diskSize',
  'extents',
  'cipher',
  'keyId',
  'nonce',
  'direction',
]);
const EXTENT_KEYS = new Set(['offset', 'length', 'kind', 'sha256', 'codec', 'at', 'encodedLength']);
const BOOKMARK_KEYS = new Set(['id', 'consistency', 'groupId', 'barrier', 'createdAt']);
const CODECS: ReadonlySet<string> = new Set<Codec>(['none', 'zstd', 'lz4']);
const SHA256_HEX = /^[0-9a-f]{64}$/;
const NONCE_HEX = new RegExp(`^[0-9a-f]{${GCM_NONCE_BYTES * 2}}$`);

/**
 * Checks every field of a header against the contract; the error names the field. Extents
 * must be sorted by offset, non-overlapping, inside the disk, 512-aligned, and their `at`
 * positions must tile the plaintext exactly (no gaps, no overlap, no lying lengths).
 */
export function validateHeader(value: unknown): BatchHeader {
  const h = obj(value, 'header');
  onlyKeys(h, HEADER_KEYS, 'header');
  if (h.v !== 1) throw validation(`Batch header version ${String(h.v)} is not supported (want 1).`);
  const machineId = id(h.machineId, 'machineId');
  const diskId = id(h.diskId, 'diskId');
  const generation = int(h.generation, 'generation', 1);
  const seq = int(h.seq, 'seq', 1);
  let baseSeq: number | undefined;
  if (h.baseSeq !== undefined) {
    baseSeq = int(h.baseSeq, 'baseSeq', 0);
    if (baseSeq >= seq) throw validation(`baseSeq ${baseSeq} must be lower than seq ${seq}.`);
  }
  const diskSize = int(h.diskSize, 'diskSize', BATCH_ALIGN, MAX_DISK_BYTES);
  if (diskSize % BATCH_ALIGN !== 0) {
    throw validation(`diskSize ${diskSize} is not a multiple of ${BATCH_ALIGN}.`);
  }
  if (h.cipher !== 'aes-256-gcm') {
    throw validation(`cipher ${JSON.stringify(h.cipher)} is not supported (want aes-256-gcm).`);
  }
  const keyId = id(h.keyId, 'keyId');
  if (typeof h.nonce !== 'string' || !NONCE_HEX.test(h.nonce)) {
    throw validation(`nonce must be ${GCM_NONCE_BYTES * 2} lowercase hex digits.`);
  }
  const bookmark = h.bookmark === undefined ? undefined : validateBookmark(h.bookmark);
  if (h.direction !== undefined && h.direction !== 'to-site') {
    throw validation(`direction ${JSON.stringify(h.direction)} is not supported (want to-site).`);
  }
  if (!Array.isArray(h.extents)) throw validation('extents must be an array.');
  if (h.extents.length > MAX_EXTENTS_PER_BATCH) {
    throw validation(
      `Batch has ${h.extents.length} extents; the limit is ${MAX_EXTENTS_PER_BATCH}.`,
    );
  }
  const extents: ExtentHeader[] = [];
  let prevEnd = 0;
  let at = 0;
  let dataBytes = 0;
  for (let i = 0; i < h.extents.length; i++) {
    const where = `extents[${i}]`;
    const e = obj(h.extents[i], where);
    onlyKeys(e, EXTENT_KEYS, where);
    const offset = int(e.offset, `${where}.offset`, 0, MAX_DISK_BYTES);
    const length = int(e.length, `${where}.length`, 1, MAX_DISK_BYTES);
    if (offset % BATCH_ALIGN !== 0 || length % BATCH_ALIGN !== 0) {
      throw validation(`${where} (offset ${offset}, length ${length}) is not 512-byte aligned.`);
    }
    if (offset + length > diskSize) {
      throw validation(`${where} ends at ${offset + length}, beyond diskSize ${diskSize}.`);
    }
    if (offset < prevEnd) {
      throw validation(
        `${where} at ${offset} overlaps or precedes the previous extent (ends ${prevEnd}); extents must be sorted and disjoint.`,
      );
    }
    prevEnd = offset + length;
    if (typeof e.codec !== 'string' || !CODECS.has(e.codec)) {
      throw validation(`${where}.codec ${JSON.stringify(e.codec)} is not one of none, zstd, lz4.`);
    }
    const codec = e.codec as Codec;
    const eAt = int(e.at, `${where}.at`, 0);
    if (eAt !== at) {
      throw validation(
        `${where}.at is ${eAt} but the previous extents end at ${at} in the payload.`,
      );
    }
    const encodedLength = int(e.encodedLength, `${where}.encodedLength`, 0);
    if (e.kind === 'zero') {
      if (codec !== 'none' || encodedLength !== 0 || e.sha256 !== undefined) {
        throw validation(`${where} is a zero extent: it carries no bytes, codec none, no sha256.`);
      }
      extents.push({ offset, length, kind: 'zero', codec, at: eAt, encodedLength });
      continue;
    }
    if (e.kind !== 'data') throw validation(`${where}.kind must be 'data' or 'zero'.`);
    if (typeof e.sha256 !== 'string' || !SHA256_HEX.test(e.sha256)) {
      throw validation(`${where}.sha256 must be 64 lowercase hex digits.`);
    }
    if (
      codec === 'none' ? encodedLength !== length : encodedLength < 1 || encodedLength >= length
    ) {
      throw validation(
        `${where}.encodedLength ${encodedLength} is impossible for codec ${codec} and length ${length}.`,
      );
    }
    dataBytes += length;
    if (dataBytes > MAX_BATCH_BYTES) {
      throw validation(`Batch carries more than ${MAX_BATCH_BYTES} bytes of extent data.`);
    }
    at += encodedLength;
    extents.push({ offset, length, kind: 'data', sha256: e.sha256, codec, at: eAt, encodedLength });
  }
  return {
    v: 1,
    machineId,
    diskId,
    generation,
    seq,
    ...(baseSeq !== undefined ? { baseSeq } : {}),
    ...(bookmark ? { bookmark } : {}),
    diskSize,
    extents,
    cipher: 'aes-256-gcm',
    keyId,
    nonce: h.nonce,
    ...(h.direction === 'to-site' ? { direction: 'to-site' as const } : {}),
  };
}

function validateBookmark(value: unknown): BatchBookmark {
  const b = obj(value, 'bookmark');
  onlyKeys(b, BOOKMARK_KEYS, 'bookmark');
  const bid = id(b.id, 'bookmark.id');
  if (b.consistency !== 'crash' && b.consistency !== 'app') {
    throw validation(`bookmark.consistency must be 'crash' or 'app'.`);
  }
  if (typeof b.createdAt !== 'string' || Number.isNaN(Date.parse(b.createdAt))) {
    throw validation('bookmark.createdAt must be an ISO 8601 time.');
  }
  if (b.barrier !== undefined && (b.barrier !== true || b.groupId === undefined)) {
    throw validation('bookmark.barrier must be true, on a group bookmark, or absent.');
  }
  return {
    id: bid,
    consistency: b.consistency,
    ...(b.groupId !== undefined ? { groupId: id(b.groupId, 'bookmark.groupId') } : {}),
    ...(b.barrier ? { barrier: true } : {}),
    createdAt: b.createdAt,
  };
}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw validation(`${where} must be a JSON object.`);
  }
  return v as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, allowed: ReadonlySet<string>, where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.has(k)) throw validation(`${where} has an unknown field '${k}'.`);
  }
}

function id(v: unknown, where: string): string {
  if (typeof v !== 'string' || !ID_PATTERN.test(v)) {
    throw validation(`${where} must be 1-128 characters of [A-Za-z0-9._-], starting alphanumeric.`);
  }
  return v;
}

function int(v: unknown, where: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw validation(`${where} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}.`);
  }
  return v;
}
