import { Xxh64, xxh32, xxh64 } from '@node-rs/xxhash';

/**
 * A spool record: 32-byte header
 *   'HVS1' u32 | metaLen u32 | payloadLen u32 | 0 u32 | xxh64(meta‖payload) u64 | xxh32(hdr[0..24]) u32 | 0 u32
 * then meta JSON `{diskId, generation, seq}` then the envelope. A torn tail (crash mid-append)
 * fails its hashes, so a scan stops there.
 */
const MAGIC = 0x48565331; // 'HVS1'
export const SPOOL_HEADER_BYTES = 32;

export interface SpoolRecordMeta {
  diskId: string;
  generation: number;
  seq: number;
}

/** A record's meta bytes (their length decides whether the record fits a segment). */
export function spoolRecordMeta(m: SpoolRecordMeta): Buffer {
  return Buffer.from(JSON.stringify({ diskId: m.diskId, generation: m.generation, seq: m.seq }));
}

/** The header of a record holding `meta` then `envelope`. */
export function spoolRecordHeader(meta: Buffer, envelope: Buffer): Buffer {
  const h = Buffer.alloc(SPOOL_HEADER_BYTES);
  h.writeUInt32BE(MAGIC, 0);
  h.writeUInt32BE(meta.length, 4);
  h.writeUInt32BE(envelope.length, 8);
  // Hashed in two parts: the envelope is not copied next to its meta to be hashed.
  h.writeBigUInt64BE(new Xxh64().update(meta).update(envelope).digest(), 16);
  h.writeUInt32BE(xxh32(h.subarray(0, 24)), 24);
  return h;
}

export interface ScannedSpoolRecord extends SpoolRecordMeta {
  /** Byte position of the envelope in the segment. */
  pos: number;
  length: number;
}

/** The intact records of a segment, in order, and where the intact part ends. */
export function scanSpoolSegment(buf: Buffer): { records: ScannedSpoolRecord[]; end: number } {
  const records: ScannedSpoolRecord[] = [];
  let off = 0;
  while (off + SPOOL_HEADER_BYTES <= buf.length) {
    const h = buf.subarray(off, off + SPOOL_HEADER_BYTES);
    if (h.readUInt32BE(0) !== MAGIC || h.readUInt32BE(24) !== xxh32(h.subarray(0, 24))) break;
    const metaLen = h.readUInt32BE(4);
    const payloadLen = h.readUInt32BE(8);
    const body = off + SPOOL_HEADER_BYTES;
    const end = body + metaLen + payloadLen;
    if (end > buf.length) break;
    if (h.readBigUInt64BE(16) !== xxh64(buf.subarray(body, end))) break;
    const meta = JSON.parse(buf.subarray(body, body + metaLen).toString()) as SpoolRecordMeta;
    records.push({
      diskId: meta.diskId,
      generation: meta.generation,
      seq: meta.seq,
      pos: body + metaLen,
      length: payloadLen,
    });
    off = end;
  }
  return { records, end: off };
}
