import { closeSync, openSync, writeSync } from 'node:fs';
import type { MachineJournal } from './journal';
import { readPayload } from './journalReader';
import { RecordType, type BookmarkPayload } from './records';
import type { Extent } from './coalescer';

export interface ReplayResult {
  /** The bookmark replay stopped at, if one was asked for and found. */
  bookmark?: BookmarkPayload;
  applied: number;
  lastLsn: number;
}

function writeAll(fd: number, data: Buffer, offset: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, offset + done);
}

const ZERO = Buffer.alloc(1024 * 1024);
function zero(fd: number, offset: number, length: number): void {
  for (let p = offset; p < offset + length; p += ZERO.length)
    writeAll(fd, ZERO.subarray(0, Math.min(ZERO.length, offset + length - p)), p);
}

/**
 * Applies the raw journal records of one disk, in order, to an image (a copy of the disk as it
 * was when journaling started), stopping after the bookmark `untilBookmarkId` if given. This is
 * what a replica receives, without coalescing: the reference the tests compare against.
 */
export function replayJournal(
  journal: MachineJournal,
  diskId: string,
  imagePath: string,
  opts: { untilBookmarkId?: string; fromLsn?: number } = {},
): ReplayResult {
  const disk = journal.disks().find((d) => d.diskId === diskId);
  if (!disk) throw new Error(`journal has no disk '${diskId}'`);
  const reader = journal.reader(opts.fromLsn);
  const fd = openSync(imagePath, 'r+');
  const res: ReplayResult = { applied: 0, lastLsn: 0 };
  try {
    for (let rec = reader.next(); rec; rec = reader.next()) {
      res.lastLsn = rec.lsn;
      if (rec.type === RecordType.Bookmark) {
        const b = JSON.parse(readPayload(rec).toString('utf8')) as BookmarkPayload;
        if (b.id === opts.untilBookmarkId) {
          res.bookmark = b;
          break;
        }
        continue;
      }
      if (rec.diskIndex !== disk.index) continue;
      if (rec.type === RecordType.Write) writeAll(fd, readPayload(rec), rec.offset);
      else if (rec.type === RecordType.Zero) zero(fd, rec.offset, rec.length);
      else continue;
      res.applied++;
    }
  } finally {
    closeSync(fd);
    reader.close();
  }
  return res;
}

/** Applies coalesced extents (what the batcher would ship) to an image. */
export function applyExtents(imagePath: string, extents: readonly Extent[]): void {
  const fd = openSync(imagePath, 'r+');
  try {
    for (const e of extents) {
      if (e.kind === 'data') writeAll(fd, e.data, e.offset);
      else zero(fd, e.offset, e.length);
    }
  } finally {
    closeSync(fd);
  }
}
