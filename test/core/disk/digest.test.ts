import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../../adapters/blobs/memoryBlobStore';
import {
  CHUNK_BLOCKS,
  DIGEST_BLOCK,
  SUB_BLOCK,
  SUBS_PER_BLOCK,
  blockCount,
  blockDigest,
  blockDigestOfSubs,
  chunkDigest,
  subDigest,
  treeDigest,
  zeroChunkDigest,
} from '../../../core/disk/digest';
import { REPLICA_INDEX } from '../../../core/replication/names';
import { ReplicaIndex } from '../../../core/replication/replicaIndex';

// Three chunks, the last one short and ending in a partial block.
const SIZE = 2 * CHUNK_BLOCKS * DIGEST_BLOCK + 5 * DIGEST_BLOCK + 1024;

function zeroDigests(size: number): Buffer[] {
  return Array.from({ length: blockCount(size) }, (_, i) =>
    blockDigest(Buffer.alloc(Math.min(DIGEST_BLOCK, size - i * DIGEST_BLOCK))),
  );
}

describe('disk digest tree', () => {
  it('a block digest is sha256 of its 4 KiB sub-block digests (short last ones included)', () => {
    for (const len of [DIGEST_BLOCK, 3 * SUB_BLOCK + 1024, 512]) {
      const data = randomBytes(len);
      const subs: Buffer[] = [];
      for (let o = 0; o < len; o += SUB_BLOCK)
        subs.push(
          createHash('sha256')
            .update(data.subarray(o, Math.min(o + SUB_BLOCK, len)))
            .digest(),
        );
      const want = createHash('sha256').update(Buffer.concat(subs)).digest();
      expect(blockDigest(data).equals(want)).toBe(true);
      expect(blockDigestOfSubs(Buffer.concat(subs)).equals(want)).toBe(true);
    }
    // The all-zero fast paths give the same digests as hashing the zeros.
    const z = Buffer.alloc(DIGEST_BLOCK);
    const zs = createHash('sha256').update(Buffer.alloc(SUB_BLOCK)).digest();
    expect(subDigest(z.subarray(0, SUB_BLOCK)).equals(zs)).toBe(true);
    expect(
      blockDigest(z).equals(blockDigestOfSubs(Buffer.concat(new Array(SUBS_PER_BLOCK).fill(zs)))),
    ).toBe(true);
  });

  it('is sha256(size ‖ chunk digests), each chunk sha256 of its block digests', () => {
    const blocks = zeroDigests(SIZE).map((d, i) => (i % 7 === 0 ? randomBytes(32) : d));
    const size = Buffer.alloc(8);
    size.writeBigUInt64BE(BigInt(SIZE));
    const chunks = [0, 1, 2].map((c) =>
      createHash('sha256')
        .update(Buffer.concat(blocks.slice(c * CHUNK_BLOCKS, (c + 1) * CHUNK_BLOCKS)))
        .digest(),
    );
    const expected = createHash('sha256')
      .update(Buffer.concat([size, ...chunks]))
      .digest('hex');
    expect(treeDigest(blocks, SIZE)).toBe(expected);
  });

  it('zero chunk digests match zero blocks, full and partial', () => {
    const zero = zeroDigests(SIZE);
    for (const c of [0, 1, 2]) {
      expect(zeroChunkDigest(SIZE, c)).toEqual(
        chunkDigest(zero.slice(c * CHUNK_BLOCKS, (c + 1) * CHUNK_BLOCKS)),
      );
    }
  });

  it('the replica index keeps sub-block digests, recomputes only changed chunks and agrees with the full tree', async () => {
    const blobs = new MemoryBlobStore();
    await blobs.ensureContainer(REPLICA_INDEX);
    const index = new ReplicaIndex(blobs, 'm1', 'd1', 1, SIZE);
    await index.ensure();
    const image = Buffer.alloc(SIZE);
    const tree = () => {
      const blocks: Buffer[] = [];
      for (let o = 0; o < SIZE; o += DIGEST_BLOCK)
        blocks.push(blockDigest(image.subarray(o, Math.min(o + DIGEST_BLOCK, SIZE))));
      return treeDigest(blocks, SIZE);
    };
    expect(await index.pointDigest(await index.readChanged())).toBe(tree());
    const subCount = Math.ceil(SIZE / SUB_BLOCK);
    const last = subCount - 1;
    for (const round of [
      [0, 5, last, last - 1], // first block, the partial last block
      [CHUNK_BLOCKS * SUBS_PER_BLOCK + 3],
      [3, 4, CHUNK_BLOCKS * SUBS_PER_BLOCK + 1000],
      Array.from({ length: SUBS_PER_BLOCK }, (_, i) => 2 * SUBS_PER_BLOCK + i), // a whole block
    ]) {
      // One sub-block rewritten at a time: the other 15 of its block come from the index.
      const update = new Map<number, Buffer>();
      for (const s of round) {
        const at = s * SUB_BLOCK;
        const bytes = randomBytes(Math.min(SUB_BLOCK, SIZE - at));
        bytes.copy(image, at);
        update.set(s, subDigest(bytes));
      }
      await index.update(update);
      await index.flush();
      const changed = await index.readChanged();
      expect(await index.pointDigest(changed)).toBe(tree());
      await index.clearChanged();
    }
    // A fresh index object (another drain) reads the same state from the blob.
    const again = new ReplicaIndex(blobs, 'm1', 'd1', 1, SIZE);
    const s = 7 * SUBS_PER_BLOCK + 2;
    const bytes = randomBytes(SUB_BLOCK);
    bytes.copy(image, s * SUB_BLOCK);
    await again.update(new Map([[s, subDigest(bytes)]]));
    await again.flush();
    expect(await again.pointDigest(await again.readChanged())).toBe(tree());
    // A block changed but its bit lost would leave a stale chunk: the bitmap is the contract.
    await again.clearChanged();
    const t = 9 * SUBS_PER_BLOCK;
    const lost = randomBytes(SUB_BLOCK);
    lost.copy(image, t * SUB_BLOCK);
    await again.update(new Map([[t, subDigest(lost)]]));
    await again.clearChanged();
    expect(await again.pointDigest(await again.readChanged())).not.toBe(tree());
  });
});
