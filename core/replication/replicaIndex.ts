import {
  CHUNK_BLOCKS,
  DIGEST_BLOCK,
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
import { MAX_PAGE_WRITE, PAGE, type BlobStore } from './blobPorts';
import { mapLimit } from '../mapLimit';
import { REPLICA_INDEX, indexBlobName } from './names';

const DIGEST_BYTES = 32;
/**
 * Reading pages nobody needs is cheaper than another request (requests are what a blob's budget
 * and the bill count; a read of 512 KiB costs what a read of 512 bytes does). An initial sync
 * touches index pages all over the disk: at 32 pages it read the index in tens of pieces.
 */
const MERGE_GAP_PAGES = 1024;
/** Clean pages kept between updates (8 MiB of index: the sub-digests of 1 GiB of disk). */
const CACHE_PAGES = 16 * 1024;

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
 * Pages read or written stay in memory for the drain (bounded), so scattered updates read each
 * index page once; `update` and `pointDigest` only change that cache, `flush` writes the
 * changed pages (merged into ≤ 4 MiB writes) and must complete before the watermark moves.
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
  private readonly pages = new Map<number, Buffer>();
  private readonly dirty = new Set<number>();
  /** Index requests made (reads, writes): the index blob has its own ~500/s budget. */
  readonly requests = { reads: 0, writes: 0 };

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
    await this.load([
      ...blocks.filter((b) => perBlock.get(b)! < subsIn(b)),
      ...blocks.map((b) => this.pageOf(this.blockAt + b * DIGEST_BYTES)),
      ...blocks.map((b) => this.pageOf(this.bitmapAt + Math.floor(b / 8))),
    ]);
    for (const b of blocks) {
      const page = this.pages.get(b) ?? Buffer.alloc(PAGE);
      this.pages.set(b, page);
      this.dirty.add(b);
      const n = subsIn(b);
      const leaves = Buffer.alloc(n * DIGEST_BYTES);
      for (let i = 0; i < n; i++) {
        const s = b * SUBS_PER_BLOCK + i;
        const d = subs.get(s);
        if (d) d.copy(page, i * DIGEST_BYTES);
        const entry = page.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
        (isAllZero(entry) ? zeroSubDigest(this.diskSize, s) : entry).copy(leaves, i * DIGEST_BYTES);
      }
      this.put(this.blockAt + b * DIGEST_BYTES, blockDigestOfSubs(leaves));
      const at = this.bitmapAt + Math.floor(b / 8);
      const bp = this.pageOf(at);
      this.pages.get(bp)![at - bp * PAGE]! |= 1 << (b % 8);
      this.dirty.add(bp);
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
        { length: this.pageOf(at + len - 1) - this.pageOf(at) + 1 },
        (_, i) => this.pageOf(at) + i,
      );
    await this.load([
      ...dirty.flatMap((c) => {
        const [first, n] = span(c);
        return pagesOf(this.blockAt + first * DIGEST_BYTES, n * DIGEST_BYTES);
      }),
      ...pagesOf(this.chunkAt, chunks * DIGEST_BYTES),
    ]);
    for (const c of dirty) {
      const [first, n] = span(c);
      const digests = this.slice(this.blockAt + first * DIGEST_BYTES, n * DIGEST_BYTES);
      const blocks = Array.from({ length: n }, (_, i) => {
        const d = digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
        return isAllZero(d) ? zeroBlockDigest(this.diskSize, first + i) : d;
      });
      this.put(this.chunkAt + c * DIGEST_BYTES, chunkDigest(blocks));
    }
    const raw = this.slice(this.chunkAt, chunks * DIGEST_BYTES);
    const all = Array.from({ length: chunks }, (_, c) => {
      const d = raw.subarray(c * DIGEST_BYTES, (c + 1) * DIGEST_BYTES);
      return isAllZero(d) ? zeroChunkDigest(this.diskSize, c) : d;
    });
    return rootDigest(all, this.diskSize);
  }

  /** Bitmap (bit i = block i changed since the last point), `ceil(blocks/8)` bytes. */
  async readChanged(): Promise<Buffer> {
    return this.read(this.bitmapAt, Math.ceil(this.blocks / 8));
  }

  /** Clears the changed-block bitmap (the next point's changes start now). */
  async clearChanged(): Promise<void> {
    await this.flush();
    const len = this.chunkAt - this.bitmapAt;
    for (let off = 0; off < len; off += MAX_PAGE_WRITE) {
      const n = Math.min(MAX_PAGE_WRITE, len - off);
      await this.blobs.clearPages(REPLICA_INDEX, this.name, this.bitmapAt + off, n, this.leaseId);
      this.requests.writes++;
    }
    for (let p = this.bitmapAt / PAGE; p < this.chunkAt / PAGE; p++)
      if (this.pages.has(p)) this.pages.set(p, Buffer.alloc(PAGE));
  }

  /**
   * Writes every changed page: runs of changed pages, joined across unchanged pages the cache
   * holds (rewriting a few known pages beats another request: scattered block updates touch
   * scattered index pages), ≤ 4 MiB each.
   */
  async flush(): Promise<void> {
    const pages = [...this.dirty].sort((a, z) => a - z);
    this.dirty.clear();
    const max = MAX_PAGE_WRITE / PAGE;
    const runs: [number, number][] = [];
    for (const p of pages) {
      const cur = runs[runs.length - 1];
      const bridged = (from: number, to: number) => {
        for (let q = from; q < to; q++) if (!this.pages.has(q)) return false;
        return true;
      };
      if (cur && p - cur[0] < max && bridged(cur[1] + 1, p)) cur[1] = p;
      else runs.push([p, p]);
    }
    await mapLimit(runs, 8, async ([first, last]) => {
      const buf = Buffer.concat(
        Array.from({ length: last - first + 1 }, (_, i) => this.pages.get(first + i)!),
      );
      await this.blobs.uploadPages(REPLICA_INDEX, this.name, first * PAGE, buf, this.leaseId);
      this.requests.writes++;
    });
    this.evict();
  }

  private pageOf(at: number): number {
    return Math.floor(at / PAGE);
  }

  /** Writes `data` at absolute index offset `at` (within one page) into the cache. */
  private put(at: number, data: Buffer): void {
    const p = this.pageOf(at);
    data.copy(this.pages.get(p)!, at - p * PAGE);
    this.dirty.add(p);
  }

  /** Loads the given pages into the cache, as merged ranged reads. */
  private async load(pages: number[]): Promise<void> {
    const missing = [...new Set(pages)].filter((p) => !this.pages.has(p)).sort((a, z) => a - z);
    const spans = mergeSpans(missing, MERGE_GAP_PAGES, MAX_PAGE_WRITE / PAGE);
    await mapLimit(spans, 8, async ([first, last]) => {
      const buf = await this.blobs.readRange(
        REPLICA_INDEX,
        this.name,
        first * PAGE,
        (last - first + 1) * PAGE,
      );
      this.requests.reads++;
      for (let p = first; p <= last; p++) {
        if (!this.pages.has(p))
          this.pages.set(p, Buffer.from(buf.subarray((p - first) * PAGE, (p - first + 1) * PAGE)));
      }
    });
  }

  /** Bytes [at, at+len) of the index through the cache. */
  private async read(at: number, len: number): Promise<Buffer> {
    const pages: number[] = [];
    for (let p = this.pageOf(at); p <= this.pageOf(at + len - 1); p++) pages.push(p);
    await this.load(pages);
    return this.slice(at, len);
  }

  /** Bytes [at, at+len) from cached pages (loaded by the caller). */
  private slice(at: number, len: number): Buffer {
    const out = Buffer.alloc(len);
    for (let p = this.pageOf(at); p <= this.pageOf(at + len - 1); p++) {
      const from = Math.max(at, p * PAGE);
      const to = Math.min(at + len, (p + 1) * PAGE);
      this.pages.get(p)!.copy(out, from - at, from - p * PAGE, to - p * PAGE);
    }
    return out;
  }

  /** Drops clean pages, oldest first, beyond the cache bound. */
  private evict(): void {
    for (const p of this.pages.keys()) {
      if (this.pages.size <= CACHE_PAGES) return;
      if (!this.dirty.has(p)) this.pages.delete(p);
    }
  }
}

/** Groups sorted page numbers into [first, last] spans, bridging gaps ≤ `gap`, at most `max` pages each. */
export function mergeSpans(pages: readonly number[], gap: number, max: number): [number, number][] {
  const out: [number, number][] = [];
  for (const p of pages) {
    const cur = out[out.length - 1];
    if (cur && p - cur[1] <= gap + 1 && p - cur[0] < max) cur[1] = p;
    else out.push([p, p]);
  }
  return out;
}

/** Number of set bits (changed blocks) in a bitmap. */
export function popcount(bits: Uint8Array): number {
  let n = 0;
  for (const b of bits) {
    let x = b;
    while (x) {
      x &= x - 1;
      n++;
    }
  }
  return n;
}

/** OR of two bitmaps (merging a dropped point's changes into its successor). */
export function orBitmaps(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(Math.max(a.length, b.length));
  for (let i = 0; i < out.length; i++) out[i] = (a[i] ?? 0) | (b[i] ?? 0);
  return out;
}

export { DIGEST_BLOCK };
