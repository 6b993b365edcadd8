import { createHash, hash } from 'node:crypto';

/**
 * Disk digests are hash trees, not a flat sha256. Leaves are 4 KiB sub-blocks (sha256 each); a
 * 64 KiB block's digest is the sha256 of its 16 sub-block digests; a chunk's digest the sha256 of
 * CHUNK_BLOCKS block digests; the root the sha256 of the size and the chunk digests.
 *
 * Why this shape: the hydrator keeps the sub-block digests of the replica in its index and
 * updates only what a batch wrote, so a 4 KiB write changes a leaf without reading the rest of
 * its 64 KiB block back from the replica (one page blob takes ~500 requests/s: a read-back per
 * scattered write halves what it can absorb). Chunk digests are recomputed only for chunks that
 * changed since the last point, so a point's digest costs O(changed chunks) plus 32 bytes per
 * 64 MiB of disk. The agent computes the same tree over the source (or a restored image) to
 * prove they are byte-identical.
 */
export const SUB_BLOCK = 4 * 1024;
export const DIGEST_BLOCK = 64 * 1024;
export const SUBS_PER_BLOCK = DIGEST_BLOCK / SUB_BLOCK;
/** Block digests per chunk digest: 64 MiB of disk, 32 KiB of block digests. */
export const CHUNK_BLOCKS = 1024;
export const DIGEST_ALGORITHM = 'sha256-tree-4k-64k-64m';

const sha = (data: Uint8Array): Buffer => hash('sha256', data, 'buffer') as unknown as Buffer;

const ZERO_SUB_DIGEST = sha(Buffer.alloc(SUB_BLOCK));
const ZERO_BLOCK_DIGEST = sha(
  Buffer.concat(new Array<Buffer>(SUBS_PER_BLOCK).fill(ZERO_SUB_DIGEST)),
);

export function blockCount(sizeBytes: number): number {
  return Math.ceil(sizeBytes / DIGEST_BLOCK);
}

export function subBlockCount(sizeBytes: number): number {
  return Math.ceil(sizeBytes / SUB_BLOCK);
}

export function chunkCount(sizeBytes: number): number {
  return Math.ceil(blockCount(sizeBytes) / CHUNK_BLOCKS);
}

/** Digest of one sub-block (≤ 4 KiB: the disk's last one may be short). */
export function subDigest(data: Uint8Array): Buffer {
  if (data.length === SUB_BLOCK && isAllZero(data)) return ZERO_SUB_DIGEST;
  return sha(data);
}

/** Digest of a block from its sub-block digests (≤ 16 of them, in order, 32 bytes each). */
export function blockDigestOfSubs(subs: Uint8Array): Buffer {
  return sha(subs);
}

/** Digest of one block (≤ 64 KiB: the disk's last one may be short). */
export function blockDigest(data: Uint8Array): Buffer {
  if (data.length === DIGEST_BLOCK && isAllZero(data)) return ZERO_BLOCK_DIGEST;
  const n = Math.ceil(data.length / SUB_BLOCK);
  const subs = Buffer.allocUnsafe(n * 32);
  for (let i = 0; i < n; i++) {
    subDigest(data.subarray(i * SUB_BLOCK, Math.min((i + 1) * SUB_BLOCK, data.length))).copy(
      subs,
      i * 32,
    );
  }
  return blockDigestOfSubs(subs);
}

/** Digest of one chunk from its block digests (≤ CHUNK_BLOCKS of them, in order). */
export function chunkDigest(blockDigests: readonly Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const d of blockDigests) h.update(d);
  return h.digest();
}

/** Digest of a whole disk from its chunk digests. */
export function rootDigest(chunkDigests: readonly Uint8Array[], sizeBytes: number): string {
  if (chunkDigests.length !== chunkCount(sizeBytes)) {
    throw new Error(`expected ${chunkCount(sizeBytes)} chunk digests, got ${chunkDigests.length}`);
  }
  const h = createHash('sha256');
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(sizeBytes));
  h.update(size);
  for (const d of chunkDigests) h.update(d);
  return h.digest('hex');
}

/** Digest of a whole disk from its per-block digests (block i covers [i*B, min((i+1)*B, size))). */
export function treeDigest(blockDigests: readonly Uint8Array[], sizeBytes: number): string {
  if (blockDigests.length !== blockCount(sizeBytes)) {
    throw new Error(`expected ${blockCount(sizeBytes)} block digests, got ${blockDigests.length}`);
  }
  const chunks: Buffer[] = [];
  for (let i = 0; i < blockDigests.length; i += CHUNK_BLOCKS)
    chunks.push(chunkDigest(blockDigests.slice(i, i + CHUNK_BLOCKS)));
  return rootDigest(chunks, sizeBytes);
}

/** Digest of sub-block `i` of a disk of `sizeBytes` when it reads as zeros. */
export function zeroSubDigest(sizeBytes: number, i: number): Buffer {
  const len = Math.min(SUB_BLOCK, sizeBytes - i * SUB_BLOCK);
  return len === SUB_BLOCK ? ZERO_SUB_DIGEST : sha(Buffer.alloc(len));
}

/** Digest of block `i` of a disk of `sizeBytes` when it reads as zeros. */
export function zeroBlockDigest(sizeBytes: number, i: number): Buffer {
  const len = Math.min(DIGEST_BLOCK, sizeBytes - i * DIGEST_BLOCK);
  return len === DIGEST_BLOCK ? ZERO_BLOCK_DIGEST : blockDigest(Buffer.alloc(len));
}

let fullZeroChunk: Buffer | undefined;

/** Digest of chunk `c` of a disk of `sizeBytes` when it reads as zeros. */
export function zeroChunkDigest(sizeBytes: number, c: number): Buffer {
  const first = c * CHUNK_BLOCKS;
  const n = Math.min(CHUNK_BLOCKS, blockCount(sizeBytes) - first);
  const full = n === CHUNK_BLOCKS && (first + n) * DIGEST_BLOCK <= sizeBytes;
  if (full)
    return (fullZeroChunk ??= chunkDigest(new Array<Buffer>(CHUNK_BLOCKS).fill(ZERO_BLOCK_DIGEST)));
  return chunkDigest(Array.from({ length: n }, (_, i) => zeroBlockDigest(sizeBytes, first + i)));
}

const ZEROS = Buffer.alloc(DIGEST_BLOCK);

export function isAllZero(data: Uint8Array): boolean {
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  // memcmp against zeros, a block at a time (a byte loop costs more than the hash it saves).
  for (let i = 0; i < view.length; i += DIGEST_BLOCK) {
    const n = Math.min(DIGEST_BLOCK, view.length - i);
    if (!view.subarray(i, i + n).equals(ZEROS.subarray(0, n))) return false;
  }
  return true;
}
