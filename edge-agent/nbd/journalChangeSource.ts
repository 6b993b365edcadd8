import { closeSync, openSync, readSync, promises as fsp } from 'node:fs';
import { isAllZero } from '../../core/disk/digest';
import type { BookmarkRequest, ChangeRecord, ChangeSource } from '../changeSource';
import { IntervalMap, toExtents, type Extent } from '../journal/coalescer';
import type { MachineJournal } from '../journal/journal';
import { readPayload, type JournalReader } from '../journal/journalReader';
import { ALL_DISKS, RecordType, type BookmarkPayload } from '../journal/records';
import type { WriteGate } from './writeGate';

/**
 * One coalesced unit: the changes of one disk since the previous unit, optionally ending in a
 * bookmark (the disk's state after `extents` is the bookmark's point).
 */
export interface JournalChangeSet {
  diskId: string;
  diskIndex: number;
  extents: Extent[];
  bookmark?: BookmarkPayload;
  /** Journal position covered once this set (and every earlier one) is durable downstream. */
  upToLsn: number;
}

/** Blocks to send from a disk's image (overflow, journal loss, invalidated ranges). */
export interface ScanItem {
  diskId: string;
  diskIndex: number;
  path: string;
  ranges: Array<{ offset: number; length: number }>;
  lsn: number;
}

export type PollItem = { kind: 'set'; set: JournalChangeSet } | { kind: 'scan'; scan: ScanItem };

export interface JournalChangeSourceOptions {
  /** Batch window: after the first new record, wait this long so overwrites coalesce. */
  windowMs?: number;
  /** Cut a window once it holds this many coalesced bytes, without waiting for a bookmark. */
  maxWindowBytes?: number;
  /** Largest extent emitted (page blob uploadPages takes ≤ 4 MiB). */
  maxExtentBytes?: number;
  /** The splitters' gate: a timed group cut holds new writes with it. */
  gate?: WriteGate;
  log?: (msg: string) => void;
}

/**
 * ChangeSource backed by the write splitter's journal ("continuous" tracking), the sibling of
 * the scan source. It reads the machine journal in LSN order, coalesces overwrites within a
 * window (last writer wins) and cuts the window at every bookmark, so coalescing never moves a
 * write across a bookmark. A bookmark is emitted after the changes of every disk before it.
 *
 * Where the journal has a gap (overflow, journal loss, host crash, ranges the agent handed back
 * with invalidate()), a Resync record marks where journaling covers everything again: the source
 * sends the dirty-bitmap blocks from the image at that point (the image then holds at least
 * every write made before it, and journal records after the point are re-applied after, so
 * last-writer-wins still holds) and drops bookmarks until the end of that scan, since before it
 * the replica is not in a state the disk ever had.
 */
export class JournalChangeSource implements ChangeSource {
  private readonly reader: JournalReader;
  private readonly windows = new Map<number, IntervalMap>();
  private readonly windowMs: number;
  private readonly maxWindowBytes: number;
  private readonly maxExtentBytes: number;
  private readonly log: (msg: string) => void;
  /** Bookmarks at or below this LSN are not crash-consistent (a gap is being filled). */
  private suppressBookmarksUntil = 0;
  private readonly fdCache = new Map<string, number>();
  private lastLsn = 0;
  private pos = 0;
  /** pos of the last record of a unit → the journal LSN it completes. */
  private marks: Array<{ pos: number; lsn: number; scanDisk?: number }> = [];
  private committedLsn = 0;
  private scansToForget: number[] = [];
  private waiting: BookmarkRequest[] = [];
  private wake?: () => void;
  /** LSN of the newest bookmark this source inserted: a wake-up that brings it skips the window. */
  private bookmarkLsn = 0;
  private unsubscribe: () => void;
  private bitmapWrites: Promise<void> = Promise.resolve();
  droppedBookmarks: string[] = [];
  holdWrites?: () => () => void;
  readonly stats = {
    records: 0,
    extents: 0,
    dataBytes: 0,
    zeroBytes: 0,
    scannedBytes: 0,
    coalescedBytes: 0,
  };

  constructor(
    readonly journal: MachineJournal,
    opts: JournalChangeSourceOptions = {},
  ) {
    this.reader = journal.reader();
    this.lastLsn = this.reader.nextLsn - 1;
    this.committedLsn = this.lastLsn;
    this.windowMs = opts.windowMs ?? 100;
    this.maxWindowBytes = opts.maxWindowBytes ?? 8 * 1024 * 1024;
    this.maxExtentBytes = opts.maxExtentBytes ?? 4 * 1024 * 1024;
    this.log = opts.log ?? (() => {});
    const gate = opts.gate;
    if (gate) this.holdWrites = () => gate.close();
    this.unsubscribe = journal.onAppend(() => this.wake?.());
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

  /** Emits every non-empty window (one set per disk); a bookmark goes on the last set. */
  private cut(out: PollItem[], upToLsn: number, bookmark?: BookmarkPayload): void {
    const sets: JournalChangeSet[] = [];
    for (const d of this.journal.disks()) {
      const w = this.windows.get(d.index);
      if (!w || !w.pieces.length) continue;
      sets.push({
        diskId: d.diskId,
        diskIndex: d.index,
        extents: toExtents(w, this.maxExtentBytes),
        upToLsn,
      });
      w.clear();
    }
    if (bookmark) {
      if (sets.length) sets[sets.length - 1]!.bookmark = bookmark;
      else sets.push({ diskId: '', diskIndex: ALL_DISKS, extents: [], bookmark, upToLsn });
    }
    for (const set of sets) out.push({ kind: 'set', set });
  }

  /**
   * Reads what the journal holds now, coalesced, in stream order. Windows without a bookmark
   * are cut when they exceed maxWindowBytes or at the journal's end.
   */
  poll(maxItems = 256, maxRecords = 4096): PollItem[] {
    const out: PollItem[] = [];
    let records = 0;
    // Bounded work per call: the NBD server shares this event loop.
    while (out.length < maxItems && records++ < maxRecords) {
      const rec = this.reader.next();
      if (!rec) break;
      this.lastLsn = rec.lsn;
      this.stats.records++;
      switch (rec.type) {
        case RecordType.Write: {
          const w = this.window(rec.diskIndex);
          const before = w.bytes;
          const data = rec.data;
          w.set(rec.offset, rec.offset + rec.length, {
            kind: 'data',
            base: 0,
            read: data
              ? (f, l) => data.subarray(f, f + l)
              : this.readRecordData(rec.segmentPath, rec.payloadPos),
          });
          this.stats.coalescedBytes += before + rec.length - w.bytes;
          break;
        }
        case RecordType.Zero:
          this.window(rec.diskIndex).set(rec.offset, rec.offset + rec.length, { kind: 'zero' });
          break;
        case RecordType.Bookmark: {
          const b = JSON.parse(readPayload(rec).toString('utf8')) as BookmarkPayload;
          if (rec.lsn <= this.suppressBookmarksUntil) {
            this.log(`journal source: bookmark ${b.id} dropped: it falls inside a resync`);
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
              ? this.journal.disks()
              : [this.journal.disks()[rec.diskIndex]!];
          for (const d of disks) {
            const ranges = this.journal.bitmap(d.index).takeForScan();
            if (ranges.length)
              out.push({
                kind: 'scan',
                scan: { diskId: d.diskId, diskIndex: d.index, path: d.path, ranges, lsn: rec.lsn },
              });
          }
          // Until the scan has read the image, no bookmark describes a real state; the scan
          // lowers this to the journal's end when it finishes.
          this.suppressBookmarksUntil = Number.MAX_SAFE_INTEGER;
          break;
        }
        default:
          break; // Open, Overflow: nothing to send
      }
      if (this.windowBytes() >= this.maxWindowBytes) this.cut(out, rec.lsn);
    }
    // Caught up: the window ends here. Otherwise it stays open for the next call (its pieces'
    // records are not committed, so their segments stay).
    if (this.reader.nextLsn > this.journal.lastLsn) this.cut(out, this.lastLsn);
    return out;
  }

  private nextPos(): number {
    return ++this.pos;
  }

  async *changes(signal: AbortSignal): AsyncGenerator<ChangeRecord> {
    const buf = Buffer.allocUnsafe(this.maxExtentBytes);
    while (!signal.aborted) {
      this.insertWaitingBookmarks();
      if (this.reader.nextLsn > this.journal.lastLsn) {
        yield { kind: 'idle', pos: this.nextPos() };
        let onAbort = () => {};
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          onAbort = () => resolve();
          signal.addEventListener('abort', onAbort, { once: true });
          if (signal.aborted || this.reader.nextLsn <= this.journal.lastLsn || this.waiting.length)
            resolve();
        });
        signal.removeEventListener('abort', onAbort);
        this.wake = undefined;
        if (signal.aborted) break;
        // The batch window: let overwrites of the same blocks land before reading them. Not
        // when a bookmark is among the new records: everything before it goes out anyway, and
        // the window would only add its length to the point's RPO.
        if (this.windowMs > 0 && this.bookmarkLsn < this.reader.nextLsn)
          await new Promise((r) => setTimeout(r, this.windowMs));
      }
      await new Promise((r) => setImmediate(r));
      for (const item of this.poll()) {
        if (item.kind === 'set') {
          const s = item.set;
          for (const e of s.extents) {
            this.stats.extents++;
            if (e.kind === 'data') {
              this.stats.dataBytes += e.data.length;
              yield {
                kind: 'extent',
                pos: this.nextPos(),
                diskId: s.diskId,
                offset: e.offset,
                length: e.data.length,
                data: e.data,
              };
            } else {
              this.stats.zeroBytes += e.length;
              yield {
                kind: 'extent',
                pos: this.nextPos(),
                diskId: s.diskId,
                offset: e.offset,
                length: e.length,
              };
            }
          }
          if (s.bookmark) {
            const b = s.bookmark;
            yield {
              kind: 'bookmark',
              pos: this.nextPos(),
              id: b.id,
              consistency: b.consistency,
              groupId: b.groupId,
              ...(b.barrier ? { barrier: true } : {}),
              createdAt: b.createdAt,
            };
          }
          this.marks.push({ pos: this.pos, lsn: s.upToLsn });
        } else {
          yield* this.scan(item.scan, buf);
        }
      }
    }
  }

  /** Sends the scan ranges from the image in extents of ≤ maxExtentBytes, zeroes as ranges. */
  private async *scan(s: ScanItem, buf: Buffer): AsyncGenerator<ChangeRecord> {
    const fh = await fsp.open(s.path, 'r');
    try {
      for (const r of s.ranges) {
        for (let off = r.offset; off < r.offset + r.length; off += buf.length) {
          const n = Math.min(buf.length, r.offset + r.length - off);
          const { bytesRead } = await fh.read(buf, 0, n, off);
          if (bytesRead < n) buf.fill(0, bytesRead, n);
          this.stats.scannedBytes += n;
          const chunk = buf.subarray(0, n);
          if (isAllZero(chunk))
            yield { kind: 'extent', pos: this.nextPos(), diskId: s.diskId, offset: off, length: n };
          else
            yield {
              kind: 'extent',
              pos: this.nextPos(),
              diskId: s.diskId,
              offset: off,
              length: n,
              data: Buffer.from(chunk),
            };
        }
      }
    } finally {
      await fh.close();
    }
    this.log(
      `journal source: resync of ${s.diskId}: ${s.ranges.reduce((a, r) => a + r.length, 0)} bytes from the image`,
    );
    this.marks.push({ pos: this.pos, lsn: s.lsn, scanDisk: s.diskIndex });
    // Every journal record up to here will be re-applied after the scanned content.
    this.suppressBookmarksUntil = this.journal.lastLsn;
  }

  /**
   * The cut is decided when the record is appended to the machine journal: one append between
   * writes of all disks. While journaling is stopped (overflow) the request waits for resume.
   */
  requestBookmark(req: BookmarkRequest): Promise<void> {
    const r = this.journal.insertBookmark({
      id: req.id,
      consistency: req.consistency,
      groupId: req.groupId,
      ...(req.barrier ? { barrier: true } : {}),
    });
    if (r) {
      this.bookmarkLsn = r.lsn;
      return Promise.resolve();
    }
    this.log(`journal source: bookmark ${req.id} waits: journaling is stopped (overflow)`);
    return new Promise((resolve) => {
      this.waiting.push({ ...req, resolve } as BookmarkRequest & { resolve: () => void });
      this.wake?.();
    });
  }

  private insertWaitingBookmarks(): void {
    while (this.waiting.length && !this.journal.overflowed) {
      const req = this.waiting.shift()! as BookmarkRequest & { resolve?: () => void };
      const r = this.journal.insertBookmark({
        id: req.id,
        consistency: req.consistency,
        groupId: req.groupId,
        ...(req.barrier ? { barrier: true } : {}),
      });
      if (r) this.bookmarkLsn = r.lsn;
      req.resolve?.();
    }
  }

  /**
   * Bookmarks up to `lsn` describe no state of a replica that is being filled from scratch (a
   * new generation: its whole disk is resent at a Resync record after them): drop them.
   */
  dropBookmarksThrough(lsn: number): void {
    this.suppressBookmarksUntil = Math.max(this.suppressBookmarksUntil, lsn);
  }

  committed(pos: number): void {
    while (this.marks.length && this.marks[0]!.pos <= pos) {
      const m = this.marks.shift()!;
      this.committedLsn = Math.max(this.committedLsn, m.lsn);
      if (m.scanDisk !== undefined) this.scansToForget.push(m.scanDisk);
    }
  }

  /**
   * Bytes the agent could not take: mark them dirty (durably, before any checkpoint releases
   * the journal records that held them) and have them sent again from the image.
   */
  invalidate(diskId: string, offset: number, length: number): void {
    const d = this.journal.disks().find((x) => x.diskId === diskId);
    if (!d || length <= 0) return;
    const bm = this.journal.bitmap(d.index);
    bm.mark(offset, length);
    this.bitmapWrites = this.bitmapWrites.then(() => bm.persist());
    this.suppressBookmarksUntil = Number.MAX_SAFE_INTEGER;
    this.journal.requestResync(d.index);
  }

  /** Persist: scanned bits forgotten, journal space up to the committed LSN released. */
  async checkpoint(): Promise<void> {
    await this.bitmapWrites;
    for (const i of this.scansToForget.splice(0)) await this.journal.bitmap(i).commitScan();
    await this.journal.release(this.committedLsn);
    const live = new Set(this.journal.segmentList().map((s) => s.path));
    for (const [path, fd] of this.fdCache) {
      if (!live.has(path)) {
        closeSync(fd);
        this.fdCache.delete(path);
      }
    }
  }

  async close(): Promise<void> {
    this.unsubscribe();
    this.wake?.();
    this.reader.close();
    for (const fd of this.fdCache.values()) closeSync(fd);
    this.fdCache.clear();
  }
}
