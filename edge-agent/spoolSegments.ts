import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { HavenError } from '../core/errors';
import { fsyncDir } from './fsUtil';
import { scanSpoolSegment } from './spoolRecord';
import { keyOf, type SpoolEntry } from './spoolTypes';

/** The segment files of a spool directory: `seg-<n>.log`, n counting up from 1. */
export function segmentPath(dir: string, n: number): string {
  return path.join(dir, `seg-${String(n).padStart(8, '0')}.log`);
}

/**
 * The intact records of the segments a spool directory holds, in order, as entries; each
 * segment's size goes into `sizes`. A torn tail of the last segment (an append that never
 * completed its fdatasync) is cut off; damage anywhere else is refused.
 */
export async function recoverSegments(
  dir: string,
  sizes: Map<number, number>,
): Promise<SpoolEntry[]> {
  const segs = (await fsp.readdir(dir))
    .map((f) => /^seg-(\d{8})\.log$/.exec(f))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  const out: SpoolEntry[] = [];
  for (const [i, n] of segs.entries()) {
    const buf = await fsp.readFile(segmentPath(dir, n));
    const { records, end: off } = scanSpoolSegment(buf);
    if (off < buf.length) {
      if (i !== segs.length - 1) {
        throw new HavenError(
          'integrity',
          `Spool segment ${segmentPath(dir, n)} is corrupt in the middle (byte ${off}); refusing to guess.`,
        );
      }
      // Torn tail of the last segment: the append never completed its fdatasync.
      await fsp.truncate(segmentPath(dir, n), off);
    }
    for (const r of records) out.push({ ...r, segment: n });
    sizes.set(n, off);
  }
  return out;
}

/** A new, empty segment file, its directory entry durable. */
export async function createSegment(dir: string, n: number): Promise<fsp.FileHandle> {
  const fh = await fsp.open(segmentPath(dir, n), 'wx+', 0o600);
  try {
    await fsyncDir(dir);
  } catch (e) {
    await fh.close(); // the empty file stays: recovery takes it as an empty segment
    throw e;
  }
  return fh;
}

/** One record's envelope, through its own descriptor (a roll or collection cannot close it). */
export async function readEntry(dir: string, e: SpoolEntry): Promise<Buffer> {
  const fh = await fsp.open(segmentPath(dir, e.segment), 'r');
  try {
    const b = Buffer.allocUnsafe(e.length);
    const { bytesRead } = await fh.read(b, 0, e.length, e.pos);
    if (bytesRead !== e.length) {
      throw new HavenError('integrity', `Spool record ${keyOf(e)} seq ${e.seq} is short.`);
    }
    return b;
  } finally {
    await fh.close();
  }
}

/**
 * Removes the segments (not the one being appended to) whose every record `removable` lets go,
 * and those with none left; true if it removed any (the caller then drops their entries).
 */
export async function removeSegments(
  dir: string,
  writer: { readonly segments: Map<number, number>; readonly current?: { n: number } },
  entries: readonly SpoolEntry[],
  removable: (e: SpoolEntry) => boolean,
): Promise<boolean> {
  const bySeg = new Map<number, boolean>();
  for (const e of entries) bySeg.set(e.segment, (bySeg.get(e.segment) ?? true) && removable(e));
  let freed = false;
  for (const n of [...writer.segments.keys()]) {
    if (n === writer.current?.n || bySeg.get(n) === false) continue;
    await fsp.rm(segmentPath(dir, n), { force: true });
    writer.segments.delete(n);
    freed = true;
  }
  return freed;
}
