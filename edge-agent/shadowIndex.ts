import * as path from 'node:path';
import { xxh64 } from '@node-rs/xxhash';
import type { AgentDisk } from './changeSource';
import { IndexFile, overlayPages, PAGE_ENTRIES } from './indexFile';

/** Change-tracking granularity; divides SCAN_READ_BYTES and the cloud's 64 KiB digest block. */
export const TRACK_BLOCK = 4 * 1024;
/** "Must be produced again" marker; xxh64 of a real block is 0 with probability 2^-64. */
const UNKNOWN = 0n;

const zeroDigestCache = new Map<number, bigint>();
export function zeroDigest(len: number): bigint {
  let d = zeroDigestCache.get(len);
  if (d === undefined) zeroDigestCache.set(len, (d = xxh64(Buffer.alloc(len))));
  return d;
}

/**
 * The block digests of one disk that the scan compares with, in two views: `committed` = what
 * is durably spooled, the only one ever persisted, read from the index file as the scan goes
 * (memory holds its unsaved pages only: 8 B per 4 KiB block would be 2 GiB of RAM per TiB of
 * disk), and the shadow = what has been emitted (so a block is not emitted twice while its
 * batch is in flight) = committed overlaid with the pages that have digests in flight. A new
 * generation starts with all-zero digests: the replica of a new generation is a fresh (zero)
 * page blob, so initial sync sends only non-zero blocks.
 */
export class ShadowIndex {
  /** Index pages with emitted digests not committed yet: the shadow where it differs. */
  private readonly inflight = new Map<number, { page: BigUint64Array; refs: number }>();

  private constructor(
    readonly disk: AgentDisk,
    readonly blocks: number,
    /** Committed digests (persisted index + unsaved pages). */
    private readonly file: IndexFile,
  ) {}

  /** `lost`: tracking state was lost (not a fresh replica), so every block is compared again. */
  static async open(indexDir: string, disk: AgentDisk, lost: boolean): Promise<ShadowIndex> {
    const blocks = Math.ceil(disk.sizeBytes / TRACK_BLOCK);
    const geometry = {
      trackBlock: TRACK_BLOCK,
      sizeBytes: disk.sizeBytes,
      generation: disk.generation,
    };
    const file = await IndexFile.open(
      indexFile(indexDir, disk),
      geometry,
      blocks,
      lost ? () => UNKNOWN : freshIndex(disk, blocks),
    );
    return new ShadowIndex(disk, blocks, file);
  }

  /** Index pages held in memory: unsaved committed ones and those with digests in flight. */
  get pagesInMemory(): number {
    return this.file.unsavedPages + this.inflight.size;
  }

  /** Digests the scan compares with: committed, overlaid with what is in flight. */
  shadow(first: number, out: BigUint64Array): void {
    this.file.read(first, out);
    overlayPages(first, out, (p) => this.inflight.get(p)?.page);
  }

  /** Emitted digests (not committed yet) enter the shadow. */
  track(first: number, digests: BigUint64Array): void {
    const end = first + digests.length;
    for (let pg = Math.floor(first / PAGE_ENTRIES); pg * PAGE_ENTRIES < end; pg++) {
      const p0 = pg * PAGE_ENTRIES;
      let e = this.inflight.get(pg);
      if (!e) {
        e = { page: new BigUint64Array(Math.min(PAGE_ENTRIES, this.blocks - p0)), refs: 0 };
        this.file.read(p0, e.page);
        this.inflight.set(pg, e);
      }
      const from = Math.max(first, p0);
      const to = Math.min(end, p0 + e.page.length);
      e.page.set(digests.subarray(from - first, to - first), from - p0);
      e.refs++;
    }
  }

  /** Tracked digests are committed or dropped: once a page has none, shadow = committed there. */
  release(first: number, count: number): void {
    const end = first + count;
    for (let pg = Math.floor(first / PAGE_ENTRIES); pg * PAGE_ENTRIES < end; pg++) {
      const e = this.inflight.get(pg);
      if (e && --e.refs === 0) this.inflight.delete(pg);
    }
  }

  /** Durably spooled digests become committed. */
  commit(first: number, digests: BigUint64Array): void {
    this.file.write(first, digests);
  }

  /** Blocks [first, end) must be produced again, in both views. */
  forget(first: number, end: number): void {
    // Spooled but maybe not in the persisted index (crash recovery): make it durable.
    this.file.fill(first, end, UNKNOWN);
    for (const [p, e] of this.inflight) {
      const p0 = p * PAGE_ENTRIES;
      if (p0 < end && p0 + e.page.length > first)
        e.page.fill(UNKNOWN, Math.max(first, p0) - p0, Math.min(end, p0 + e.page.length) - p0);
    }
  }

  save(): Promise<void> {
    return this.file.save();
  }

  close(): void {
    this.file.close();
  }
}

function indexFile(dir: string, disk: AgentDisk) {
  return path.join(dir, `${disk.id}.g${disk.generation}.idx`);
}

/** A fresh generation's index: every block is zero (the new replica is a zero page blob). */
function freshIndex(disk: AgentDisk, blocks: number): (entry: number) => bigint {
  const whole = zeroDigest(TRACK_BLOCK);
  const tail = zeroDigest(disk.sizeBytes - (blocks - 1) * TRACK_BLOCK);
  return (entry) => (entry === blocks - 1 ? tail : whole);
}
