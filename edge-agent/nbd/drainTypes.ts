import type { Extent } from '../journal/coalescer';
import type { MemoryRecord, Segment } from '../journal/journalTypes';
import type { BookmarkPayload } from '../journal/records';

/**
 * An extent of a change set. One whose bytes were moved over from the drain thread names what
 * to call once they are no longer needed (drainTransfer.ts).
 */
export type DrainExtent = Extent & { release?: () => void };

/**
 * One coalesced unit: the changes of one disk since the previous unit, optionally ending in a
 * bookmark (the disk's state after `extents` is the bookmark's point).
 */
export interface JournalChangeSet {
  diskId: string;
  diskIndex: number;
  extents: DrainExtent[];
  bookmark?: BookmarkPayload;
  /** Journal position covered once this set (and every earlier one) is durable downstream. */
  upToLsn: number;
}

/**
 * What the drain hands back, in stream order: coalesced sets, and Resync records (the caller
 * takes the dirty-bitmap blocks to scan: the bitmaps live with the splitters).
 */
export type DrainItem =
  { kind: 'set'; set: JournalChangeSet } | { kind: 'resync'; diskIndex: number; lsn: number };

/** The journal as the drain sees it at one moment: its end, its files and its disks. */
export interface JournalSnapshot {
  lastLsn: number;
  segments: Segment[];
  disks: Array<{ index: number; diskId: string }>;
  /** Records whose payload is in the writer's shared memory: read from there, not the file. */
  memory?: MemoryRecord[];
}

export interface DrainRequest {
  snapshot: JournalSnapshot;
  /** Bookmarks at or below this LSN are dropped without cutting the window (a gap is being filled). */
  suppressBookmarksUntil: number;
  maxItems: number;
  maxRecords: number;
  /** Stop once the records read carry this many payload bytes (default: no bound). */
  maxBytes?: number;
}

export interface DrainResult {
  items: DrainItem[];
  /** Next LSN the drain will read: everything below it has been read. */
  nextLsn: number;
  /** Bookmarks read and dropped (they fall inside a resync). */
  dropped: string[];
  /**
   * No window refers to a record up to this LSN: once this result is copied out (a drain
   * thread's is, to be posted), nothing reads their payloads any more but the extents left in
   * records kept in memory (MemoryRef), each until it is released.
   */
  cutLsn: number;
  records: number;
  coalescedBytes: number;
}

/** An extent's bytes as part of a record kept in memory: its LSN and the offset in its payload. */
export interface MemoryRef {
  lsn: number;
  from: number;
}

export interface DrainOptions {
  maxWindowBytes: number;
  maxExtentBytes: number;
}
