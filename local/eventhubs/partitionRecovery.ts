import {
  closeSync,
  fdatasyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  unlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/**
 * Record layout of a partition log: a 24-byte header (payload length u32, crc32 u32 of the
 * rest, seq f64, enqueued-time f64) then the payload.
 */
export const HEADER = 24;

/** The header a record of `payload` is written with (the layout above). */
export function encodeRecordHeader(payload: Buffer, seq: number, time: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt32BE(payload.length, 0);
  header.writeDoubleBE(seq, 8);
  header.writeDoubleBE(time, 16);
  header.writeUInt32BE(crc32(payload, crc32(header.subarray(8, HEADER))), 4);
  return header;
}

export interface Segment {
  base: number; // offset of the segment's first byte
  firstSeq: number;
  size: number; // bytes appended (committed or pending)
  fd: number;
  path: string;
}

/** What a partition's files hold after recovery: its segments and the index of its records. */
export interface RecoveredPartition {
  segments: Segment[];
  offsets: number[];
  times: number[];
  lengths: number[];
  firstSeq: number;
  lastTime: number;
  nextOffset: number;
}

/**
 * Reads every segment of the log in `dir`, indexing its records. A torn or corrupt tail is cut
 * off (never acknowledged: acks follow fdatasync), and every later segment deleted, since
 * nothing after a corrupt record can be trusted; empty segments before the last are removed.
 */
export function recoverPartition(dir: string): RecoveredPartition {
  const out: RecoveredPartition = {
    segments: [],
    offsets: [],
    times: [],
    lengths: [],
    firstSeq: 0,
    lastTime: 0,
    nextOffset: 0,
  };
  const names = readdirSync(dir)
    .filter((n) => /^\d{20}\.log$/.test(n))
    .sort();
  let first = true;
  for (let i = 0; i < names.length; i++) {
    const path = join(dir, names[i]!);
    const base = Number(names[i]!.slice(0, 20));
    const data = readFileSync(path);
    let pos = 0;
    let firstSeq = -1;
    while (pos + HEADER <= data.length) {
      const len = data.readUInt32BE(pos);
      if (pos + HEADER + len > data.length) break;
      const crc = data.readUInt32BE(pos + 4);
      if (crc32(data.subarray(pos + 8, pos + HEADER + len)) !== crc) break;
      const seq = data.readDoubleBE(pos + 8);
      const time = data.readDoubleBE(pos + 16);
      if (first) {
        out.firstSeq = seq;
        first = false;
      }
      if (firstSeq < 0) firstSeq = seq;
      out.offsets.push(base + pos);
      out.times.push(time);
      out.lengths.push(len);
      out.lastTime = Math.max(out.lastTime, time);
      pos += HEADER + len;
    }
    const fd = openSync(path, 'r+');
    if (pos < data.length) {
      ftruncateSync(fd, pos);
      fdatasyncSync(fd);
    }
    if (firstSeq < 0 && i < names.length - 1) {
      closeSync(fd);
      unlinkSync(path);
      continue;
    }
    out.segments.push({
      base,
      firstSeq: firstSeq < 0 ? out.firstSeq + out.offsets.length : firstSeq,
      size: pos,
      fd,
      path,
    });
    out.nextOffset = base + pos;
    if (pos < data.length) {
      for (const rest of names.slice(i + 1)) unlinkSync(join(dir, rest));
      break;
    }
  }
  return out;
}
