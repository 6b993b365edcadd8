import type { DecodedExtent } from '../batch';
import { DIGEST_BLOCK, blockDigest } from '../disk/digest';
import { mapLimit } from '../mapLimit';
import { MAX_PAGE_WRITE } from './blobPorts';
import { REPLICAS } from './names';
import type { ReplicationDeps, ReplicationOptions } from './ports';

const MIN_PIECE = 1024 * 1024;
/** Requests in flight for small page writes and digest read-backs (latency-bound). */
const SMALL_OPS_IN_FLIGHT = 32;
/** Payload bytes in flight that large page writes are sized against. */
const WRITE_BYTES_IN_FLIGHT = 8 * 1024 * 1024;

/** The 64 KiB digest blocks a batch touches, as sorted, merged [first, last] spans. */
export function blockSpans(
  extents: readonly { offset: number; length: number }[],
): [number, number][] {
  const raw = extents
    .filter((e) => e.length > 0)
    .map((e): [number, number] => [
      Math.floor(e.offset / DIGEST_BLOCK),
      Math.floor((e.offset + e.length - 1) / DIGEST_BLOCK),
    ])
    .sort((a, z) => a[0] - z[0]);
  const out: [number, number][] = [];
  for (const [a, z] of raw) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], z);
    else out.push([a, z]);
  }
  return out;
}

/** True when two sorted span lists share a block. */
export function spansOverlap(
  a: readonly [number, number][],
  b: readonly [number, number][],
): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i]![1] < b[j]![0]) i++;
    else if (b[j]![1] < a[i]![0]) j++;
    else return true;
  }
  return false;
}

/** Page writes (≤ 4 MiB each) and clears, a few in flight. Same bytes at same offsets: idempotent. */
export async function applyExtents(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  replica: string,
  leaseId: string,
  extents: DecodedExtent[],
): Promise<void> {
  const jobs: { bytes: number; run: () => Promise<void> }[] = [];
  for (const e of extents) {
    if (e.kind === 'zero') {
      for (let off = 0; off < e.length; off += 256 * MAX_PAGE_WRITE) {
        const len = Math.min(256 * MAX_PAGE_WRITE, e.length - off);
        jobs.push({
          bytes: MAX_PAGE_WRITE, // a clear moves no payload; count it as one large request
          run: () => deps.blobs.clearPages(REPLICAS, replica, e.offset + off, len, leaseId),
        });
      }
    } else {
      // Large extents go in ≥ 1 MiB pieces, several in flight (faster than one 4 MiB call).
      const piece = Math.min(
        MAX_PAGE_WRITE,
        Math.max(MIN_PIECE, Math.ceil(e.length / opts.writeConcurrency / 512) * 512),
      );
      for (let off = 0; off < e.length; off += piece) {
        const chunk = e.data.subarray(off, Math.min(e.length, off + piece));
        jobs.push({
          bytes: chunk.length,
          run: () => deps.blobs.uploadPages(REPLICAS, replica, e.offset + off, chunk, leaseId),
        });
      }
    }
  }
  // Small scattered writes are bound by the service's per-request latency, not bytes: keep more
  // of them in flight (up to SMALL_OPS_IN_FLIGHT) while large ones stay at writeConcurrency.
  const bytes = jobs.reduce((n, j) => n + j.bytes, 0);
  const limit = Math.min(
    SMALL_OPS_IN_FLIGHT,
    Math.max(
      opts.writeConcurrency,
      Math.floor(WRITE_BYTES_IN_FLIGHT / Math.max(1, bytes / jobs.length)),
    ),
  );
  await mapLimit(jobs, limit, (j) => j.run());
}

/**
 * The digest of every 64 KiB block a batch touched: from the batch's own bytes when its
 * extents cover the block, else read back from the replica (after the writes).
 */
export async function touchedBlockDigests(
  deps: ReplicationDeps,
  replica: string,
  diskSize: number,
  extents: DecodedExtent[],
): Promise<Map<number, Buffer>> {
  type Seg = { at: number; len: number; data?: Buffer };
  const perBlock = new Map<number, Seg[]>();
  for (const e of extents) {
    const end = e.offset + e.length;
    for (let b = Math.floor(e.offset / DIGEST_BLOCK); b * DIGEST_BLOCK < end; b++) {
      const bs = b * DIGEST_BLOCK;
      const from = Math.max(bs, e.offset);
      const to = Math.min(bs + DIGEST_BLOCK, end, diskSize);
      const seg: Seg = { at: from - bs, len: to - from };
      if (e.kind === 'data') seg.data = e.data.subarray(from - e.offset, to - e.offset);
      let list = perBlock.get(b);
      if (!list) perBlock.set(b, (list = []));
      list.push(seg);
    }
  }
  const out = new Map<number, Buffer>();
  const readBack: number[] = [];
  for (const [b, segs] of perBlock) {
    const blockLen = Math.min(DIGEST_BLOCK, diskSize - b * DIGEST_BLOCK);
    const covered = segs.reduce((n, s) => n + s.len, 0);
    if (covered < blockLen) {
      readBack.push(b);
      continue;
    }
    if (segs.length === 1 && segs[0]!.data) {
      out.set(b, blockDigest(segs[0]!.data));
    } else if (segs.every((s) => !s.data)) {
      out.set(b, blockDigest(Buffer.alloc(blockLen)));
    } else {
      const buf = Buffer.alloc(blockLen);
      for (const s of segs) if (s.data) s.data.copy(buf, s.at);
      out.set(b, blockDigest(buf));
    }
  }
  readBack.sort((a, z) => a - z);
  // Contiguous runs of partially covered blocks are read in one call each.
  const runs: [number, number][] = [];
  for (const b of readBack) {
    const last = runs[runs.length - 1];
    if (last && last[1] === b - 1 && b - last[0] < 64) last[1] = b;
    else runs.push([b, b]);
  }
  await mapLimit(runs, SMALL_OPS_IN_FLIGHT, async ([first, last]) => {
    const start = first * DIGEST_BLOCK;
    const end = Math.min((last + 1) * DIGEST_BLOCK, diskSize);
    const buf = await deps.blobs.readRange(REPLICAS, replica, start, end - start);
    for (let b = first; b <= last; b++) {
      const s = (b - first) * DIGEST_BLOCK;
      out.set(b, blockDigest(buf.subarray(s, Math.min(s + DIGEST_BLOCK, buf.length))));
    }
  });
  return out;
}
