import {
  CHUNK_BLOCKS,
  DIGEST_BLOCK,
  blockCount,
  chunkCount,
  chunkDigest,
  rootDigest,
  zeroBlockDigest,
  zeroChunkDigest,
} from '../disk/digest';
import { MAX_PAGE_WRITE, PAGE, type BlobStore } from './blobPorts';
import { mapLimit } from '../mapLimit';
import { REPLICA_INDEX, indexBlobName } from './names';

const DIGEST_BYTES = 32;
/** Reading a few unchanged pages is cheaper than another round trip. */
const MERGE_GAP_PAGES = 32;

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/**
 * Haven's own index of one replica (page blob `replica-index/{m}/{d}/g{gen}.index`):
 *   [ sha256 of every 64 KiB block (32 bytes each) | bitmap of blocks changed since the last point
 *     | sha256 of every chunk of CHUNK_BLOCKS block digests, as of the last point ]
 * An all-zero digest entry means "never written": the block (or chunk) reads as zeros. Written only by the
 * replica's lease holder; every update is idempotent (same digests, OR-ed bits), so re-applying a
 * batch after a crash leaves the index consistent with the replica.
 */
export class ReplicaIndex {
  readonly blocks: number;
  private readonly digestRegion: number;
  private readonly bitmapRegion: number;
  private readonly chunkRegion: number;
  readonly name: string;
  /** Lease id for writes (the hydrator leases the index together with the replica). */
  leaseId?: string;

  constructor(
    private readonly blobs: BlobStore,
    machineId: string,
    diskId: string,
    generation: number,
    readonly diskSize: number,
  ) {
    this.blocks = blockCount(diskSize);
    this.digestRegion = roundUp(this.blocks * DIGEST_BYTES, PAGE);
    this.bitmapRegion = roundUp(Math.ceil(this.blocks / 8), PAGE);
    this.chunkRegion = roundUp(chunkCount(diskSize) * DIGEST_BYTES, PAGE);
    this.name = indexBlobName(machineId, diskId, generation);
  }

  async ensure(): Promise<void> {
    await this.blobs.createPageBlob(
      REPLICA_INDEX,
      this.name,
      this.digestRegion + this.bitmapRegion + this.chunkRegion,
      {
        diskSize: String(this.diskSize),
      },
    );
  }

  /** Stores the digests of the touched blocks and marks them changed. */
  async update(digests: ReadonlyMap<number, Buffer>): Promise<void> {
    if (digests.size === 0) return;
    const blocks = [...digests.keys()].sort((a, b) => a - b);
    // Digest pages.
    const digestPages = unique(blocks.map((b) => Math.floor((b * DIGEST_BYTES) / PAGE)));
    const bitPages = unique(blocks.map((b) => Math.floor(b / 8 / PAGE)));
    await Promise.all([
      this.rewrite(
        0,
        digestPages,
        (buf, base) => {
          for (const b of blocks) {
            const at = b * DIGEST_BYTES - base;
            if (at >= 0 && at + DIGEST_BYTES <= buf.length) digests.get(b)!.copy(buf, at);
          }
        },
        // A span whose every slot is rewritten needs no read (sequential writes, initial sync).
        (base, len) => {
          for (let at = base; at < base + len; at += DIGEST_BYTES) {
            if (!digests.has(at / DIGEST_BYTES)) return false;
          }
          return true;
        },
      ),
      this.rewrite(this.digestRegion, bitPages, (buf, base) => {
        for (const b of blocks) {
          const at = Math.floor(b / 8) - base;
          if (at >= 0 && at < buf.length) buf[at]! |= 1 << (b % 8);
        }
      }),
    ]);
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
    const fresh = new Map<number, Buffer>();
    await mapLimit(dirty, 8, async (c) => {
      const first = c * CHUNK_BLOCKS;
      const n = Math.min(CHUNK_BLOCKS, this.blocks - first);
      const raw = await this.blobs.readRange(
        REPLICA_INDEX,
        this.name,
        first * DIGEST_BYTES,
        n * DIGEST_BYTES,
      );
      const digests = Array.from({ length: n }, (_, i) => {
        const d = raw.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
        return d.every((x) => x === 0) ? zeroBlockDigest(this.diskSize, first + i) : d;
      });
      fresh.set(c, chunkDigest(digests));
    });
    const region = this.digestRegion + this.bitmapRegion;
    const pages = unique(dirty.map((c) => Math.floor((c * DIGEST_BYTES) / PAGE)));
    await this.rewrite(region, pages, (buf, base) => {
      for (const [c, d] of fresh) {
        const at = c * DIGEST_BYTES - base;
        if (at >= 0 && at + DIGEST_BYTES <= buf.length) d.copy(buf, at);
      }
    });
    const raw = await this.blobs.readRange(REPLICA_INDEX, this.name, region, this.chunkRegion);
    const all = Array.from({ length: chunks }, (_, c) => {
      const d = raw.subarray(c * DIGEST_BYTES, (c + 1) * DIGEST_BYTES);
      return d.every((x) => x === 0) ? zeroChunkDigest(this.diskSize, c) : d;
    });
    return rootDigest(all, this.diskSize);
  }

  /** Bitmap (bit i = block i changed since the last point), `ceil(blocks/8)` bytes. */
  async readChanged(): Promise<Buffer> {
    const raw = await this.blobs.readRange(
      REPLICA_INDEX,
      this.name,
      this.digestRegion,
      this.bitmapRegion,
    );
    return raw.subarray(0, Math.ceil(this.blocks / 8));
  }

  async clearChanged(): Promise<void> {
    for (let off = 0; off < this.bitmapRegion; off += MAX_PAGE_WRITE) {
      const len = Math.min(MAX_PAGE_WRITE, this.bitmapRegion - off);
      await this.blobs.clearPages(
        REPLICA_INDEX,
        this.name,
        this.digestRegion + off,
        len,
        this.leaseId,
      );
    }
  }

  /** Read-modify-write of the given pages (indices relative to `regionStart`), merged into spans. */
  private async rewrite(
    regionStart: number,
    pages: number[],
    edit: (buf: Buffer, baseInRegion: number) => void,
    fullyRewritten: (baseInRegion: number, length: number) => boolean = () => false,
  ): Promise<void> {
    const spans = mergeSpans(pages, MERGE_GAP_PAGES, MAX_PAGE_WRITE / PAGE);
    await Promise.all(
      spans.map(async ([first, last]) => {
        const base = first * PAGE;
        const len = (last - first + 1) * PAGE;
        const buf = fullyRewritten(base, len)
          ? Buffer.alloc(len)
          : await this.blobs.readRange(REPLICA_INDEX, this.name, regionStart + base, len);
        edit(buf, base);
        await this.blobs.uploadPages(
          REPLICA_INDEX,
          this.name,
          regionStart + base,
          buf,
          this.leaseId,
        );
      }),
    );
  }
}

function unique(sorted: number[]): number[] {
  return sorted.filter((v, i) => i === 0 || sorted[i - 1] !== v);
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
