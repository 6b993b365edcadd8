import { xxh32, xxh64 } from '@node-rs/xxhash';

/**
 * Journal record layout (all big-endian), 48-byte header then the payload:
 *   0 u32 magic 'HVJ1' | 4 u8 type | 5 u8 flags | 6 u16 diskIndex | 8 u64 lsn | 16 u64 offset
 *  24 u64 length | 32 u32 payloadLen | 36 u64 xxh64(payload) | 44 u32 xxh32(bytes 0..44)
 * The header hash finds a torn or garbage tail after a crash; the payload hash catches a record
 * whose header reached the disk but whose data did not.
 */
export const RECORD_MAGIC = 0x48564a31; // 'HVJ1'
export const HEADER_BYTES = 48;
export const ALL_DISKS = 0xffff;
/** O_DIRECT writes: memory, file offsets and lengths in multiples of this. */
export const PAYLOAD_ALIGN = 4096;
/**
 * Flag: the payload (`length` bytes, `payloadLen` 0) is in the segment's payload file
 * (`payloadFilePath`), after those of the segment's earlier such records; the header's payload
 * hash covers it. Written O_DIRECT there, it shares no inode with the buffered record log.
 */
export const FLAG_PAYLOAD_FILE = 2;

/** The payload file of a segment. */
export function payloadFilePath(segmentPath: string): string {
  return segmentPath.replace(/\.hvj$/, '.hvp');
}

/** Where the record whose header is at `pos` ends (the next one starts). */
export function recordEnd(pos: number, h: { payloadLen: number }): number {
  return pos + HEADER_BYTES + h.payloadLen;
}

export enum RecordType {
  /** Data written at [offset, offset+length); payload = the bytes. */
  Write = 1,
  /** [offset, offset+length) now reads as zeroes (WRITE_ZEROES, TRIM). */
  Zero = 2,
  /** Machine-wide bookmark; payload = JSON BookmarkPayload. */
  Bookmark = 3,
  /** Journaling stopped here (capacity); later writes are only in the dirty bitmaps. */
  Overflow = 4,
  /** Journaling resumed: the reader must send the dirty-bitmap blocks of every disk from here. */
  Resync = 5,
  /** A serving session started; payload = JSON { bootId, pid, startedAt }. */
  Open = 6,
}

export interface BookmarkPayload {
  id: string;
  consistency: 'crash' | 'app';
  groupId?: string;
  barrier?: boolean;
  createdAt: string;
}

export interface RecordHeader {
  type: RecordType;
  flags: number;
  diskIndex: number;
  lsn: number;
  offset: number;
  length: number;
  payloadLen: number;
  payloadHash: bigint;
}

const EMPTY_HASH = xxh64(Buffer.alloc(0));

export function encodeHeader(h: Omit<RecordHeader, 'payloadHash'>, payload?: Buffer): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES);
  b.writeUInt32BE(RECORD_MAGIC, 0);
  b.writeUInt8(h.type, 4);
  b.writeUInt8(h.flags, 5);
  b.writeUInt16BE(h.diskIndex, 6);
  b.writeBigUInt64BE(BigInt(h.lsn), 8);
  b.writeBigUInt64BE(BigInt(h.offset), 16);
  b.writeBigUInt64BE(BigInt(h.length), 24);
  b.writeUInt32BE(h.payloadLen, 32);
  b.writeBigUInt64BE(payload?.length ? xxh64(payload) : EMPTY_HASH, 36);
  b.writeUInt32BE(xxh32(b.subarray(0, 44)), 44);
  return b;
}

/** Parses a header; undefined when it is not a valid one (torn tail, garbage). */
export function decodeHeader(b: Buffer): RecordHeader | undefined {
  if (b.length < HEADER_BYTES) return undefined;
  if (b.readUInt32BE(0) !== RECORD_MAGIC) return undefined;
  if (xxh32(b.subarray(0, 44)) !== b.readUInt32BE(44)) return undefined;
  return {
    type: b.readUInt8(4) as RecordType,
    flags: b.readUInt8(5),
    diskIndex: b.readUInt16BE(6),
    lsn: Number(b.readBigUInt64BE(8)),
    offset: Number(b.readBigUInt64BE(16)),
    length: Number(b.readBigUInt64BE(24)),
    payloadLen: b.readUInt32BE(32),
    payloadHash: b.readBigUInt64BE(36),
  };
}

export function payloadMatches(h: RecordHeader, payload: Buffer): boolean {
  return (payload.length ? xxh64(payload) : EMPTY_HASH) === h.payloadHash;
}
