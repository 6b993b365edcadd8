import { closeSync, openSync, readSync } from 'node:fs';
import { IntervalMap, toExtents, type Extent } from '../journal/coalescer';
import { readPayload, type JournalReader, type MachineJournal } from '../journal/journal';
import { ALL_DISKS, RecordType, type BookmarkPayload } from '../journal/records';

/**
 * One unit handed to the batcher: the coalesced changes of one disk since the previous unit,
 * optionally ending in a bookmark (the disk's state after `extents` is the bookmark's point).
 */
export interface JournalChangeSet {
  diskId: string;
  diskIndex: number;
  diskSize: number;
  extents: Extent[];
  bookmark?: BookmarkPayload;
  /** Journal position covered; pass to commit() once the batch is durable downstream. */
  upToLsn: number;
  /** True when the set holds blocks sent from the image (overflow / resync), not the journal. */
  fromScan?: boolean;
}

export interface JournalChangeSourceOptions {
  /** Emit a window once it holds this many coalesced bytes (without waiting for a bookmark). */
  maxWindowBytes?: number;
  maxExtentBytes?: number;
  log?: (msg: string) => void;
}

/**
 * ChangeSource backed by the write splitter's journal ("continuous" tracking), the sibling of
 * the scan source. It reads the machine journal in LSN order, coalesces overwrites within a
 * window (last writer wins) and cuts the window at every bookmark, so coalescing never moves a
 * write across a bookmark. A bookmark is emitted on every disk of the machine.
 *
 * When the journal overflowed, the Resync record says where journaling resumed: the source sends
 * the dirty-bitmap blocks from the image at that point (the image then holds at least every
 * write made before it; later journal records are re-applied after, so order stays right) and
 * drops bookmarks until the scan's point, since before it the replica is not a state the source
 * ever had.
 */
export class JournalChangeSource {
  private readonly reader: JournalReader;
  private readonly windows = new Map<number, IntervalMap>();
  private readonly maxWindowBytes: number;
  private readonly maxExtentBytes: number;
  private readonly log: (msg: string) => void;
  /** Bookmarks at or below this LSN are not crash-consistent (a scan was in progress). */
  private suppressBookmarksUntil = 0;
  /** Scans whose bits may be forgotten once downstream holds everything up to `lsn`. */
  private pendingScans: Array<{ lsn: number; diskIndex: number }> = [];
  private readonly fdCache = new Map<string, number>();
  private lastLsn = 0;
  droppedBookmarks: string[] = [];

  constructor(
    readonly journal: MachineJournal,
    opts: JournalChangeSourceOptions = {},
  ) {
    this.reader = journal.reader();
    this.lastLsn = this.reader.nextLsn - 1;
    this.maxWindowBytes = opts.maxWindowBytes ?? 8 * 1024 * 1024;
    this.maxExtentBytes = opts.maxExtentBytes ?? 4 * 1024 * 1024;
    this.log = opts.log ?? (() => {});
  }

  private window(diskIndex: number): IntervalMap {
    let w = this.windows.get(diskIndex);
    if (!w) {
      w = new IntervalMap();
      this.windows.set(diskIndex, w);
    }
    return w;
  }

  private readRecordData(segmentPath: string, payloadPos: number) {
    return (from: number, length: number): Buffer => {
      let fd = this.fdCache.get(segmentPath);
      if (fd === undefined) {
        fd = openSync(segmentPath, 'r');
        this.fdCache.set(segmentPath, fd);
      }
      const b = Buffer.allocUnsafe(length);
      const n = readSync(fd, b, 0, length, payloadPos + from);
      if (n !== length) throw new Error(`journal: short read in ${segmentPath}`);
      return b;
    };
  }

  private windowBytes(): number {
    let n = 0;
    for (const w of this.windows.values()) n += w.bytes;
    return n;
  }

  /** Emits every non-empty window (one set per disk), and the bookmark on every disk if given. */
  private cut(out: JournalChangeSet[], upToLsn: number, bookmark?: BookmarkPayload): void {
    for (const d of this.journal.disks()) {
      const w = this.windows.get(d.index);
      const extents = w && w.pieces.length ? toExtents(w, this.maxExtentBytes) : [];
      w?.clear();
      if (extents.length || bookmark) {
        out.push({
          diskId: d.diskId,
          diskIndex: d.index,
          diskSize: d.size,
          extents,
          bookmark,
          upToLsn,
        });
      }
    }
  }

  /** Reads the dirty blocks of a disk from its image (zero chunks become zero ranges). */
  private scanDisk(out: JournalChangeSet[], diskIndex: number, upToLsn: number): void {
    const d = this.journal.disks()[diskIndex]!;
    const bm = this.journal.bitmap(diskIndex);
    const ranges = bm.takeForScan();
    if (!ranges.length) return;
    const fd = openSync(d.path, 'r');
    const w = new IntervalMap();
    try {
      for (const r of ranges) {
        for (let pos = r.offset; pos < r.offset + r.length; pos += this.maxExtentBytes) {
          const n = Math.min(this.maxExtentBytes, r.offset + r.length - pos);
          const b = Buffer.alloc(n);
          readSync(fd, b, 0, n, pos);
          if (b.every((x) => x === 0)) w.set(pos, pos + n, { kind: 'zero' });
          else w.set(pos, pos + n, { kind: 'data', base: 0, read: (f, l) => b.subarray(f, f + l) });
        }
      }
    } finally {
      closeSync(fd);
    }
    const bytes = ranges.reduce((a, r) => a + r.length, 0);
    this.log(`journal source: resync of ${d.diskId}: ${bytes} bytes from the image`);
    out.push({
      diskId: d.diskId,
      diskIndex,
      diskSize: d.size,
      extents: toExtents(w, this.maxExtentBytes),
      upToLsn,
      fromScan: true,
    });
    this.pendingScans.push({ lsn: upToLsn, diskIndex });
  }

  /**
   * Drains what the journal holds now (up to `maxSets`), coalesced. Windows without a bookmark
   * are emitted when they exceed maxWindowBytes or when the journal's end is reached, so the
   * caller's polling interval is the batch window.
   */
  poll(maxSets = 64): JournalChangeSet[] {
    const out: JournalChangeSet[] = [];
    for (;;) {
      if (out.length >= maxSets) break;
      const rec = this.reader.next();
      if (!rec) break;
      this.lastLsn = rec.lsn;
      switch (rec.type) {
        case RecordType.Write:
          this.window(rec.diskIndex).set(rec.offset, rec.offset + rec.length, {
            kind: 'data',
            base: 0,
            read: this.readRecordData(rec.segmentPath, rec.payloadPos),
          });
          break;
        case RecordType.Zero:
          this.window(rec.diskIndex).set(rec.offset, rec.offset + rec.length, { kind: 'zero' });
          break;
        case RecordType.Bookmark: {
          const b = JSON.parse(readPayload(rec).toString('utf8')) as BookmarkPayload;
          if (rec.lsn <= this.suppressBookmarksUntil) {
            this.log(`journal source: bookmark ${b.id} dropped (inside a resync)`);
            this.droppedBookmarks.push(b.id);
            break;
          }
          this.cut(out, rec.lsn, b);
          break;
        }
        case RecordType.Resync: {
          this.cut(out, rec.lsn - 1);
          const disks =
            rec.diskIndex === ALL_DISKS
              ? this.journal.disks().map((d) => d.index)
              : [rec.diskIndex];
          for (const i of disks) this.scanDisk(out, i, rec.lsn);
          // Writes journaled while we read the image are re-applied after the scan; only a
          // bookmark after all of them describes a state the disk really had.
          this.suppressBookmarksUntil = this.journal.lastLsn;
          break;
        }
        default:
          break; // Open, Overflow: nothing to send
      }
      if (this.windowBytes() >= this.maxWindowBytes) this.cut(out, rec.lsn);
    }
    this.cut(out, this.lastLsn);
    return out;
  }

  /** Downstream holds everything up to lsn durably: release journal space, forget scanned bits. */
  async commit(upToLsn: number): Promise<void> {
    const done = this.pendingScans.filter((s) => s.lsn <= upToLsn);
    this.pendingScans = this.pendingScans.filter((s) => s.lsn > upToLsn);
    for (const s of done) await this.journal.bitmap(s.diskIndex).commitScan();
    this.journal.release(upToLsn);
    const live = new Set(this.journal.segmentList().map((s) => s.path));
    for (const [path, fd] of this.fdCache) {
      if (!live.has(path)) {
        closeSync(fd);
        this.fdCache.delete(path);
      }
    }
  }

  close(): void {
    this.reader.close();
    for (const fd of this.fdCache.values()) closeSync(fd);
    this.fdCache.clear();
  }
}
