import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { decodeBatch, peekHeader } from '../../../core/batch';

export interface Captured {
  diskId: string;
  generation: number;
  seq: number;
  sha: string;
  file: string;
}

/** Lists captured envelopes (CaptureSink names: disk.gen.seq.sha.hvb). */
export function listCaptured(dir: string): Captured[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((f) => /^(.+)\.(\d+)\.(\d+)\.([0-9a-f]{64})\.hvb$/.exec(f))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({
      diskId: m[1]!,
      generation: Number(m[2]),
      seq: Number(m[3]),
      sha: m[4]!,
      file: path.join(dir, m[0]),
    }));
}

export interface ReplayResult {
  image: Buffer;
  /** seq dedupe conflicts: same (disk, gen, seq) with different content. */
  conflicts: string[];
  /** Highest seq applied; batches must be dense from 1. */
  lastSeq: number;
  bookmarks: { id: string; seq: number }[];
  duplicates: number;
}

/**
 * What a hydrator does, in the simplest form: dedupe by (disk, gen, seq), refuse a seq with two
 * contents, apply in seq order to a zero image, optionally stop after a bookmark.
 */
export async function replayDisk(
  dir: string,
  diskId: string,
  diskSize: number,
  key: Buffer,
  stopAtBookmark?: string,
): Promise<ReplayResult> {
  const bySeq = new Map<number, Captured>();
  const conflicts: string[] = [];
  let duplicates = 0;
  for (const c of listCaptured(dir).filter((c) => c.diskId === diskId && c.generation === 1)) {
    const prev = bySeq.get(c.seq);
    if (prev && prev.sha !== c.sha) conflicts.push(`${diskId} seq ${c.seq}`);
    if (prev) duplicates++;
    bySeq.set(c.seq, c);
  }
  const image = Buffer.alloc(diskSize);
  const bookmarks: { id: string; seq: number }[] = [];
  let seq = 0;
  for (;;) {
    const c = bySeq.get(seq + 1);
    if (!c) break;
    seq++;
    const env = readFileSync(c.file);
    if (createHash('sha256').update(env).digest('hex') !== c.sha)
      conflicts.push(`${diskId} seq ${seq} file digest`);
    const h = peekHeader(env);
    if (h.seq !== seq || h.diskId !== diskId)
      conflicts.push(`${diskId} seq ${seq} header says ${h.diskId} ${h.seq}`);
    const d = await decodeBatch(env, () => key);
    for (const e of d.extents) {
      if (e.kind === 'zero') image.fill(0, e.offset, e.offset + e.length);
      else e.data.copy(image, e.offset);
    }
    if (h.bookmark) {
      bookmarks.push({ id: h.bookmark.id, seq });
      if (h.bookmark.id === stopAtBookmark) break;
    }
  }
  return { image, conflicts, lastSeq: seq, bookmarks, duplicates };
}
