import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  lastPerDisk,
  REDO_RECORDS,
  SEGMENT_RE,
  type JournalRecord,
  type Segment,
} from './journalTypes';
import {
  decodeHeader,
  FLAG_PAYLOAD_FILE,
  HEADER_BYTES,
  payloadFilePath,
  payloadMatches,
  RecordType,
} from './records';

export interface SegmentScan {
  segments: Segment[];
  nextLsn: number;
  /** Records the journal should hold are gone (a segment missing or out of sequence). */
  lost: boolean;
  foundAny: boolean;
  /** Each disk's last change records (what a process crash may have left unapplied). */
  lastChanges: JournalRecord[];
}

/**
 * Opening the journal: reads every segment, finds the end, truncates a torn tail (so it is never
 * mistaken for records later), and notes each disk's last changes for the redo after a crash.
 */
export function scanSegments(
  dir: string,
  releasedLsn: number,
  log: (msg: string) => void,
): SegmentScan {
  const names = readdirSync(dir)
    .filter((n) => SEGMENT_RE.test(n))
    .sort();
  const segments: Segment[] = names.map((n) => ({
    firstLsn: Number(SEGMENT_RE.exec(n)![1]),
    path: join(dir, n),
    size: statSync(join(dir, n)).size,
  }));
  let nextLsn = 1;
  let lost = false;
  let lastChanges: JournalRecord[] = [];
  const expectFirst = releasedLsn + 1;
  if (segments.length && segments[0]!.firstLsn > expectFirst && releasedLsn > 0) lost = true;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const isLast = i === segments.length - 1;
    const fd = openSync(seg.path, 'r+');
    let pos = 0;
    let filePos = 0; // in the payload file
    let pfd = -1;
    const hb = Buffer.alloc(HEADER_BYTES);
    let expected = seg.firstLsn;
    for (;;) {
      if (readSync(fd, hb, 0, HEADER_BYTES, pos) < HEADER_BYTES) break;
      const h = decodeHeader(hb);
      if (!h || h.lsn !== expected) break;
      if (h.flags & FLAG_PAYLOAD_FILE) {
        if (pfd < 0) {
          // A missing payload file ends the valid records here, like a torn tail.
          try {
            pfd = openSync(payloadFilePath(seg.path), 'r+');
          } catch {
            break;
          }
        }
        const pl = Buffer.allocUnsafe(h.length);
        if (readSync(pfd, pl, 0, h.length, filePos) < h.length) break;
        if (!payloadMatches(h, pl)) break;
        const rec = { ...h, payloadLen: h.length, segmentPath: payloadFilePath(seg.path) };
        lastChanges.push({ ...rec, payloadPos: filePos });
        if (lastChanges.length > 4 * REDO_RECORDS) lastChanges = lastPerDisk(lastChanges);
        filePos += h.length;
        pos += HEADER_BYTES;
        expected = h.lsn + 1;
        continue;
      }
      const payloadPos = pos + HEADER_BYTES;
      if (h.payloadLen) {
        const pl = Buffer.allocUnsafe(h.payloadLen);
        if (readSync(fd, pl, 0, h.payloadLen, payloadPos) < h.payloadLen) break;
        if (!payloadMatches(h, pl)) break;
      }
      if (h.type === RecordType.Write || h.type === RecordType.Zero) {
        lastChanges.push({ ...h, segmentPath: seg.path, payloadPos });
        if (lastChanges.length > 4 * REDO_RECORDS) lastChanges = lastPerDisk(lastChanges);
      } else if (h.type === RecordType.Overflow) {
        // After an overflow the image holds unjournaled writes: replaying older records
        // over them would undo them.
        lastChanges = [];
      }
      pos = payloadPos + h.payloadLen;
      expected = h.lsn + 1;
    }
    if (filePos > 0 || pfd >= 0) seg.payloadBytes = filePos;
    // A payload file no record reached (created just before a crash): the segment still owns
    // it, so its release deletes it (before, nothing ever did).
    else if (existsSync(payloadFilePath(seg.path))) seg.payloadBytes = 0;
    if (pfd >= 0) {
      // Payloads past the last record (written, their header not) are cut like a torn tail.
      if (isLast) ftruncateSync(pfd, filePos);
      closeSync(pfd);
    }
    if (!isLast) {
      // Segments are preallocated/recycled, so bytes after the last record are normal; what
      // matters is that the next segment starts where this one ends.
      if (segments[i + 1]!.firstLsn !== expected) lost = true;
      seg.size = pos;
    } else if (pos < seg.size) {
      // The tail: cut whatever follows the last valid record (torn write, an older history in
      // a recycled file) so it can never be mistaken for records later.
      log(`journal: truncating ${seg.path} at ${pos} (was ${seg.size})`);
      ftruncateSync(fd, pos);
      seg.size = pos;
    }
    closeSync(fd);
    nextLsn = expected;
  }
  return {
    nextLsn,
    lost,
    segments,
    foundAny: segments.length > 0,
    lastChanges: lastPerDisk(lastChanges),
  };
}
