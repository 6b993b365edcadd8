import { createHash } from 'node:crypto';

/**
 * Disk digests are hash trees, not a flat sha256: the hydrator keeps one sha256 per
 * DIGEST_BLOCK of the replica and updates only the blocks a batch touched, so a recovery
 * point's digest costs O(changed blocks), not a full read of the disk. The agent computes
 * the same tree over the source (or a restored image) to prove they are byte-identical.
 */
export const DIGEST_BLOCK = 64 * 1024;
export const DIGEST_ALGORITHM = 'sha256-tree-64k';

const ZERO_BLOCK_DIGEST = createHash('sha256').update(Buffer.alloc(DIGEST_BLOCK)).digest();

export function blockCount(sizeBytes: number): number {
  return Math.ceil(sizeBytes / DIGEST_BLOCK);
}

export function blockDigest(data: Uint8Array): Buffer {
  if (data.length === DIGEST_BLOCK && isAllZero(data)) return ZERO_BLOCK_DIGEST;
  return createHash('sha256').update(data).digest();
}

/** Digest of a whole disk from its per-block digests (block i covers [i*B, min((i+1)*B, size))). */
export function treeDigest(blockDigests: readonly Uint8Array[], sizeBytes: number): string {
  if (blockDigests.length !== blockCount(sizeBytes)) {
    throw new Error(`expected ${blockCount(sizeBytes)} block digests, got ${blockDigests.length}`);
  }
  const h = createHash('sha256');
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(sizeBytes));
  h.update(size);
  for (const d of blockDigests) h.update(d);
  return h.digest('hex');
}

/** Digest of a disk whose every block is zero (a freshly created replica). */
export function zeroBlockDigests(sizeBytes: number): Buffer[] {
  const n = blockCount(sizeBytes);
  const out: Buffer[] = new Array<Buffer>(n);
  for (let i = 0; i < n; i++) {
    const len = Math.min(DIGEST_BLOCK, sizeBytes - i * DIGEST_BLOCK);
    out[i] =
      len === DIGEST_BLOCK
        ? ZERO_BLOCK_DIGEST
        : createHash('sha256').update(Buffer.alloc(len)).digest();
  }
  return out;
}

export function isAllZero(data: Uint8Array): boolean {
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let i = 0;
  for (; i + 8 <= view.length; i += 8) if (view.readBigUInt64LE(i) !== 0n) return false;
  for (; i < view.length; i++) if (view[i] !== 0) return false;
  return true;
}
