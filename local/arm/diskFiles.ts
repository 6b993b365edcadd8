import { execFile, execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { xxh64 } from '@node-rs/xxhash';
import { findTool } from '../setup/requireTool';

const execFileP = promisify(execFile);

/** Digest granularity of incremental snapshots: changed ranges are reported in these blocks. */
export const DIGEST_BLOCK = 64 * 1024;
const ZERO_DIGEST = xxh64(Buffer.alloc(DIGEST_BLOCK));

/** Copies a disk image keeping holes (a 2 GiB disk with 100 MiB of data copies 100 MiB). */
export async function copySparse(from: string, to: string): Promise<void> {
  await execFileP('cp', ['--sparse=always', '--reflink=auto', from, to]);
}

/**
 * The 64 KiB blocks of `file` that hold data, from its extent map (FIEMAP through e2fsprogs'
 * `filefrag`, after a sync so that delayed allocations are placed); undefined when the file
 * system or the tool cannot tell, and the caller reads everything.
 */
function blocksWithData(file: string, blocks: number): [number, number][] | undefined {
  const filefrag = findTool('filefrag');
  if (!filefrag) return undefined;
  let out: string;
  try {
    out = execFileSync(filefrag, ['-s', '-e', file], { encoding: 'utf8', stdio: 'pipe' });
  } catch {
    return undefined;
  }
  const unit = Number(/blocks of (\d+) bytes/.exec(out)?.[1]);
  if (!unit) return undefined;
  const spans: [number, number][] = [];
  for (const m of out.matchAll(/^\s*\d+:\s*(\d+)\.\.\s*(\d+):/gm)) {
    const first = Math.floor((Number(m[1]) * unit) / DIGEST_BLOCK);
    const end = Math.min(blocks, Math.ceil(((Number(m[2]) + 1) * unit) / DIGEST_BLOCK));
    spans.push([first, end]);
  }
  return spans;
}

/**
 * The digest of every 64 KiB block of `file` (8 bytes each, xxh64), written to `out`. Two maps
 * of the same disk tell exactly which blocks the VM changed between two snapshots. Holes read as
 * zeros, so only the blocks with data are read and hashed: a sparse 2 GiB disk costs its data.
 */
export function writeDigestMap(file: string, out: string): void {
  const size = statSync(file).size;
  const blocks = Math.ceil(size / DIGEST_BLOCK);
  const map = Buffer.alloc(blocks * 8);
  for (let b = 0; b < blocks; b++) map.writeBigUInt64BE(ZERO_DIGEST, b * 8);
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(64 * DIGEST_BLOCK);
  try {
    for (const [first, end] of blocksWithData(file, blocks) ?? [[0, blocks]]) {
      for (let b = first; b < end;) {
        const want = Math.min(buf.length, (end - b) * DIGEST_BLOCK);
        const n = readSync(fd, buf, 0, want, b * DIGEST_BLOCK);
        if (n <= 0) break;
        buf.fill(0, n, want); // the last block of a disk that is not a whole 64 KiB
        for (let off = 0; off < want; off += DIGEST_BLOCK, b++)
          map.writeBigUInt64BE(xxh64(buf.subarray(off, off + DIGEST_BLOCK)), b * 8);
      }
    }
  } finally {
    closeSync(fd);
  }
  writeFileSync(out, map, { mode: 0o600 });
}

export interface Range {
  offset: number;
  length: number;
}

/** Joins adjacent blocks into ranges, clipped to the disk size. */
function toRanges(blocks: number[], size: number): Range[] {
  const out: Range[] = [];
  for (const b of blocks) {
    const offset = b * DIGEST_BLOCK;
    const length = Math.min(DIGEST_BLOCK, size - offset);
    const last = out[out.length - 1];
    if (last && last.offset + last.length === offset) last.length += length;
    else out.push({ offset, length });
  }
  return out;
}

/** Blocks that differ between two digest maps of one disk (a larger disk's tail counts as changed). */
export function changedRanges(map: string, size: number, baseMap?: string): Range[] {
  const cur = readFileSync(map);
  const base = baseMap ? readFileSync(baseMap) : undefined;
  const blocks: number[] = [];
  for (let b = 0; b * 8 < cur.length; b++) {
    const d = cur.readBigUInt64BE(b * 8);
    const was = base && b * 8 < base.length ? base.readBigUInt64BE(b * 8) : ZERO_DIGEST;
    if (d !== was) blocks.push(b);
  }
  return toRanges(blocks, size);
}
