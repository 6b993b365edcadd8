import { execFile } from 'node:child_process';
import { closeSync, openSync, readSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { xxh64 } from '@node-rs/xxhash';

const execFileP = promisify(execFile);

/** Digest granularity of incremental snapshots: changed ranges are reported in these blocks. */
export const DIGEST_BLOCK = 64 * 1024;
const ZERO_DIGEST = xxh64(Buffer.alloc(DIGEST_BLOCK));

/** Copies a disk image keeping holes (a 2 GiB disk with 100 MiB of data copies 100 MiB). */
export async function copySparse(from: string, to: string): Promise<void> {
  await execFileP('cp', ['--sparse=always', '--reflink=auto', from, to]);
}

/**
 * The digest of every 64 KiB block of `file` (8 bytes each, xxh64), written to `out`. Two maps
 * of the same disk tell exactly which blocks the VM changed between two snapshots; the cost is
 * one read of the disk per snapshot, which is what Azure's own incremental snapshots spare the
 * user, not the platform.
 */
export function writeDigestMap(file: string, out: string): void {
  const size = statSync(file).size;
  const blocks = Math.ceil(size / DIGEST_BLOCK);
  const map = Buffer.alloc(blocks * 8);
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(64 * DIGEST_BLOCK);
  try {
    for (let b = 0; b < blocks;) {
      const n = readSync(fd, buf, 0, buf.length, b * DIGEST_BLOCK);
      if (n <= 0) break;
      for (let off = 0; off < n; off += DIGEST_BLOCK, b++) {
        const block = buf.subarray(off, Math.min(off + DIGEST_BLOCK, n));
        const d =
          block.length === DIGEST_BLOCK
            ? xxh64(block)
            : xxh64(Buffer.concat([block, Buffer.alloc(DIGEST_BLOCK - block.length)]));
        map.writeBigUInt64BE(d, b * 8);
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
