import { MAX_PAGE_WRITE, PAGE, type BlobStore } from './blobPorts';
import { mapLimit } from '../mapLimit';

/**
 * Reading pages nobody needs is cheaper than another request (requests are what a blob's budget
 * and the bill count; a read of 512 KiB costs what a read of 512 bytes does). An initial sync
 * touches index pages all over the disk: at 32 pages it read the index in tens of pieces.
 */
const MERGE_GAP_PAGES = 1024;
/** Clean pages kept between updates (8 MiB of index: the sub-digests of 1 GiB of disk). */
const CACHE_PAGES = 16 * 1024;

/**
 * The pages of one page blob read or written during a drain, kept in memory (bounded), so
 * scattered updates read each page once: reads are merged ranged reads, `flush` writes the
 * changed pages merged into ≤ 4 MiB writes. Counts its requests (a blob has its own budget).
 */
export class PageCache {
  private readonly pages = new Map<number, Buffer>();
  private readonly dirty = new Set<number>();
  /** Requests made (reads, writes). */
  readonly requests = { reads: 0, writes: 0 };

  constructor(
    private readonly blobs: BlobStore,
    private readonly container: string,
    private readonly name: string,
  ) {}

  pageOf(at: number): number {
    return Math.floor(at / PAGE);
  }

  /** Page `p` to be changed in place: the cached one, or a zero page when it was not loaded. */
  pageForWrite(p: number): Buffer {
    const page = this.pages.get(p) ?? Buffer.alloc(PAGE);
    this.pages.set(p, page);
    this.dirty.add(p);
    return page;
  }

  /** Writes `data` at absolute offset `at` (within one page) into the cache. */
  put(at: number, data: Buffer): void {
    const p = this.pageOf(at);
    data.copy(this.pages.get(p)!, at - p * PAGE);
    this.dirty.add(p);
  }

  /** Loads the given pages into the cache, as merged ranged reads. */
  async load(pages: number[]): Promise<void> {
    const missing = [...new Set(pages)].filter((p) => !this.pages.has(p)).sort((a, z) => a - z);
    const spans = mergeSpans(missing, MERGE_GAP_PAGES, MAX_PAGE_WRITE / PAGE);
    await mapLimit(spans, 8, async ([first, last]) => {
      const buf = await this.blobs.readRange(
        this.container,
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

  /** Bytes [at, at+len) through the cache. */
  async read(at: number, len: number): Promise<Buffer> {
    const pages: number[] = [];
    for (let p = this.pageOf(at); p <= this.pageOf(at + len - 1); p++) pages.push(p);
    await this.load(pages);
    return this.slice(at, len);
  }

  /** Bytes [at, at+len) from cached pages (loaded by the caller). */
  slice(at: number, len: number): Buffer {
    const out = Buffer.alloc(len);
    for (let p = this.pageOf(at); p <= this.pageOf(at + len - 1); p++) {
      const from = Math.max(at, p * PAGE);
      const to = Math.min(at + len, (p + 1) * PAGE);
      this.pages.get(p)!.copy(out, from - at, from - p * PAGE, to - p * PAGE);
    }
    return out;
  }

  /** Clears bytes [at, at+len) (whole pages) in the blob, and in the cached copies. */
  async clear(at: number, len: number, leaseId: string | undefined): Promise<void> {
    for (let off = 0; off < len; off += MAX_PAGE_WRITE) {
      const n = Math.min(MAX_PAGE_WRITE, len - off);
      await this.blobs.clearPages(this.container, this.name, at + off, n, leaseId);
      this.requests.writes++;
    }
    for (let p = at / PAGE; p < (at + len) / PAGE; p++)
      if (this.pages.has(p)) this.pages.set(p, Buffer.alloc(PAGE));
  }

  /**
   * Writes every changed page: runs of changed pages, joined across unchanged pages the cache
   * holds (rewriting a few known pages beats another request: scattered block updates touch
   * scattered index pages), ≤ 4 MiB each.
   */
  async flush(leaseId: string | undefined): Promise<void> {
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
      await this.blobs.uploadPages(this.container, this.name, first * PAGE, buf, leaseId);
      this.requests.writes++;
    });
    this.evict();
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
