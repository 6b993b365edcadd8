import {
  CHUNK_BLOCKS,
  SUBS_PER_BLOCK,
  blockCount,
  blockDigestOfSubs,
  chunkCount,
  isAllZero,
  chunkDigest,
  rootDigest,
  subBlockCount,
  zeroBlockDigest,
  zeroChunkDigest,
  zeroSubDigest,
} from '../disk/digest';
import { PAGE, type BlobStore } from './blobPorts';
import { REPLICA_INDEX, indexBlobName } from './names';
import { PageCache } from './pageCache';

const DIGEST_BYTES = 32;

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/**
 * Haven's own index of one replica (page blob `replica-index/{m}/{d}/g{gen}.index`):
 *   [ sha256 of every 4 KiB sub-block (512 bytes = one page per 64 KiB block)
 *   | sha256 of every 64 KiB block (of its sub-block digests, core/disk/digest.ts)
 *   | bitmap of blocks changed since the last point
 *   | sha256 of every chunk of CHUNK_BLOCKS block digests, as of the last point ]
 * An all-zero digest entry means "never written": that part reads as zeros. Written only by the
 * replica's lease holder (same lease id); every update is idempotent (same digests, OR-ed bits),
 * so re-applying batches after a crash leaves the index consistent with the replica.
 *
 * Pages read or written stay in memory for the drain (a `PageCache`); `update` and `pointDigest`
 * only change that cache, `flush` writes the changed pages and must complete before the
 * watermark moves.
 */
export class ReplicaIndex {
  readonly blocks: number;
  private readonly subs: number;
  private readonly blockAt: number;
  private readonly bitmapAt: number;
  private readonly chunkAt: number;
  private readonly size: number;
  readonly name: string;
  /** Lease id for writes (the hydrator leases the index together with the replica). */
  leaseId?: string;
  private readonly cache: PageCache;

  constructor(
    private readonly blobs: BlobStore,
    machineId: string,
    diskId: string,
    generation: number,
    readonly diskSize: number,
  ) {
    this.blocks = blockCount(diskSize);
    this.subs = subBlockCount(diskSize);
    this.blockAt = this.blocks * PAGE; // one page of sub-block digests per block
    this.bitmapAt = this.blockAt + roundUp(this.blocks * DIGEST_BYTES, PAGE);
    this.chunkAt = this.bitmapAt + roundUp(Math.ceil(this.blocks / 8), PAGE);
    this.size = this.chunkAt + roundUp(chunkCount(diskSize) * DIGEST_BYTES, PAGE);
    this.name = indexBlobName(machineId, diskId, generation);
    this.cache = new PageCache(blobs, REPLICA_INDEX, this.name);
  }

  /** Index requests made (reads, writes): the index blob has its own ~500/s budget. */
  get requests(): { reads: number; writes: number } {
    return this.cache.requests;
  }

  async ensure(): Promise<void> {
    await this.blobs.createPageBlob(REPLICA_INDEX, this.name, this.size, {
      diskSize: String(this.diskSize),
      layout: 'sub4k-v2',
    });
  }

  /**
   * Records the digests of the sub-blocks a group of batches wrote (sub-block index → digest):
   * their blocks' digests are recomputed from the block's 16 sub-block digests (the ones not
   * written are read from the index, not from the replica) and the blocks marked changed.
   */
  async update(subs: ReadonlyMap<number, Buffer>): Promise<void> {
    if (subs.size === 0) return;
    const perBlock = new Map<number, number>();
    for (const s of subs.keys()) {
      const b = Math.floor(s / SUBS_PER_BLOCK);
      perBlock.set(b, (perBlock.get(b) ?? 0) + 1);
    }
    const blocks = [...perBlock.keys()].sort((a, z) => a - z);
    const subsIn = (b: number) => Math.min(SUBS_PER_BLOCK, this.subs - b * SUBS_PER_BLOCK);
    // A block page every sub-block of which is rewritten needs no read.
    await this.cache.load([
      ...blocks.filter((b) => perBlock.get(b)! < subsIn(b)),
      ...blocks.map((b) => this.cache.pageOf(this.blockAt + b * DIGEST_BYTES)),
      ...blocks.map((b) => this.cache.pageOf(this.bitmapAt + Math.floor(b / 8))),
    ]);
    for (const b of blocks) {
      const page = this.cache.pageForWrite(b);
      const n = subsIn(b);
      const leaves = Buffer.alloc(n * DIGEST_BYTES);
      for (let i = 0; i < n; i++) {
        const s = b * SUBS_PER_BLOCK + i;
        const d = subs.get(s);
        if (d) d.copy(page, i * DIGEST_BYTES);
        const entry = page.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
        (isAllZero(entry) ? zeroSubDigest(this.diskSize, s) : entry).copy(leaves, i * DIGEST_BYTES);
      }
      this.cache.put(this.blockAt + b * DIGEST_BYTES, blockDigestOfSubs(leaves));
      const at = this.bitmapAt + Math.floor(b / 8);
      const bp = this.cache.pageOf(at);
      this.cache.pageForWrite(bp)[at - bp * PAGE]! |= 1 << (b % 8);
    }
  }

  /**
   * The disk's digest now: chunk digests are recomputed for the chunks `changed` (the bitmap
   * since the last point) touches and stored, then the root is taken over all of them. Chunks
   * nobody wrote stay all-zero entries and resolve to the zero chunk's digest. Idempotent: a
   * re-run after a crash recomputes the same chunks from the same block digests.
   */
  async pointDigest(changed: Uint8Array): Promise<string> {
    const chunks = chunkCount(this.diskSize);
    const dirty: number[] = [];
    const bytesPerChunk = CHUNK_BLOCKS / 8;
    for (let c = 0; c < chunks; c++) {
      const bits = changed.subarray(c * bytesPerChunk, (c + 1) * bytesPerChunk);
      if (bits.some((x) => x !== 0)) dirty.push(c);
    }
    const span = (c: number): [number, number] => {
      const first = c * CHUNK_BLOCKS;
      return [first, Math.min(CHUNK_BLOCKS, this.blocks - first)];
    };
    const pagesOf = (at: number, len: number) =>
      Array.from(
        { length: this.cache.pageOf(at + len - 1) - this.cache.pageOf(at) + 1 },
        (_, i) => this.cache.pageOf(at) + i,
      );
    await this.cache.load([
      ...dirty.flatMap((c) => {
        const [first, n] = span(c);
        return pagesOf(this.blockAt + first * DIGEST_BYTES, n * DIGEST_BYTES);
      }),
      ...pagesOf(this.chunkAt, chunks * DIGEST_BYTES),
    ]);
    for (const c of dirty) {
      const [first, n] = span(c);
      const digests = this.cache.slice(this.blockAt + first * DIGEST_BYTES, n * DIGEST_BYTES);
      const blocks = Array.from({ length: n }, (_, i) => {
        const d = digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
        return isAllZero(d) ? zeroBlockDigest(this.diskSize, first + i) : d;
      });
      this.cache.put(this.chunkAt + c * DIGEST_BYTES, chunkDigest(blocks));
    }
    const raw = this.cache.slice(this.chunkAt, chunks * DIGEST_BYTES);
    const all = Array.from({ length: chunks }, (_, c) => {
      const d = raw.subarray(c * DIGEST_BYTES, (c + 1) * DIGEST_BYTES);
      return isAllZero(d) ? zeroChunkDigest(this.diskSize, c) : d;
    });
    return rootDigest(all, this.diskSize);
  }

  /** Bitmap (bit i = block i changed since the last point), `ceil(blocks/8)` bytes. */
  async readChanged(): Promise<Buffer> {
    return this.cache.read(this.bitmapAt, Math.ceil(this.blocks / 8));
  }

  /** Clears the changed-block bitmap (the next point's changes start now). */
  async clearChanged(): Promise<void> {
    await this.flush();
    await this.cache.clear(this.bitmapAt, this.chunkAt - this.bitmapAt, this.leaseId);
  }

  /** Writes every changed index page (see PageCache.flush). */
  async flush(): Promise<void> {
    await this.cache.flush(this.leaseId);
  }
}
