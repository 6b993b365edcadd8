import { createHash } from 'node:crypto';

/**
 * Disk digests are hash trees, not a flat sha256: the hydrator keeps one sha256 per
 * DIGEST_BLOCK of the replica and updates only the blocks a batch touched, and one sha256 per
 * chunk of CHUNK_BLOCKS block digests, recomputed only for chunks that changed since the last
 * point. A recovery point's digest then costs O(changed chunks) plus 32 bytes per 64 MiB of
 * disk, never a read of every block digest (512 MiB for a 1 TiB disk). The agent computes the
 * same tree over the source (or a restored image) to prove they are byte-identical.
 */
export const DIGEST_BLOCK = 64 * 1024;
/** Block digests per chunk digest: 64 MiB of disk, 32 KiB of block digests. */
export const CHUNK_BLOCKS = 1024;
export const DIGEST_ALGORITHM = 'sha256-tree-64k-64m';

const ZERO_BLOCK_DIGEST = createHash('sha256').update(Buffer.alloc(DIGEST_BLOCK)).digest();

export function blockCount(sizeBytes: number): number {
  return Math.ceil(sizeBytes / DIGEST_BLOCK);
}

export function chunkCount(sizeBytes: number): number {
  return Math.ceil(blockCount(sizeBytes) / CHUNK_BLOCKS);
}

export function blockDigest(data: Uint8Array): Buffer {
  if (data.length === DIGEST_BLOCK && isAllZero(data)) return ZERO_BLOCK_DIGEST;
  return createHash('sha256').update(data).digest();
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

/** Digest of block `i` of a disk of `sizeBytes` when it reads as zeros. */
export function zeroBlockDigest(sizeBytes: number, i: number): Buffer {
  const len = Math.min(DIGEST_BLOCK, sizeBytes - i * DIGEST_BLOCK);
  return len === DIGEST_BLOCK
    ? ZERO_BLOCK_DIGEST
    : createHash('sha256').update(Buffer.alloc(len)).digest();
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

export function isAllZero(data: Uint8Array): boolean {
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let i = 0;
  for (; i + 8 <= view.length; i += 8) if (view.readBigUInt64LE(i) !== 0n) return false;
  for (; i < view.length; i++) if (view[i] !== 0) return false;
  return true;
}
