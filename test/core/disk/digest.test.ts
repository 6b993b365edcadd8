import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../../adapters/blobs/memoryBlobStore';
import {
  CHUNK_BLOCKS,
  DIGEST_BLOCK,
  blockCount,
  blockDigest,
  chunkDigest,
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

  it('the replica index recomputes only changed chunks and agrees with the full tree', async () => {
    const blobs = new MemoryBlobStore();
    await blobs.ensureContainer(REPLICA_INDEX);
    const index = new ReplicaIndex(blobs, 'm1', 'd1', 1, SIZE);
    await index.ensure();
    const blocks = zeroDigests(SIZE);
    expect(await index.pointDigest(await index.readChanged())).toBe(treeDigest(blocks, SIZE));
    for (const round of [
      [0, 5, CHUNK_BLOCKS * 2 + 5], // first and last chunk, the partial last block
      [CHUNK_BLOCKS + 1],
      [3, CHUNK_BLOCKS + 1000],
    ]) {
      const update = new Map(round.map((b) => [b, randomBytes(32)]));
      for (const [b, d] of update) blocks[b] = d;
      await index.update(update);
      const changed = await index.readChanged();
      expect(await index.pointDigest(changed)).toBe(treeDigest(blocks, SIZE));
      await index.clearChanged();
    }
    // A block changed but its bit lost would leave a stale chunk: the bitmap is the contract.
    const stale = new Map([[7, randomBytes(32)]]);
    await index.update(stale);
    await index.clearChanged();
    blocks[7] = stale.get(7)!;
    expect(await index.pointDigest(await index.readChanged())).not.toBe(treeDigest(blocks, SIZE));
  });
});
