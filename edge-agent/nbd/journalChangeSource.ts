import type { BookmarkRequest, ChangeRecord, ChangeSource } from '../changeSource';
import type { MachineJournal } from '../journal/journal';
import { ALL_DISKS } from '../journal/records';
import { BookmarkRequests } from './bookmarkRequests';
import { readImageRanges } from './readImageRanges';
import { changeSetRecords } from './changeSetRecords';
import { DrainPoller } from './drainPoller';
import type { JournalChangeSet } from './drainTypes';
import type { WriteGate } from './writeGate';

export type { JournalChangeSet } from './drainTypes';

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
  /**
   * Read the journal back and build extents in a worker thread (default), not on the event
   * loop that serves NBD requests.
   */
  drainThread?: boolean;
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
  private drain: DrainPoller;
  private readonly newDrain: (fromLsn: number) => DrainPoller;
  /** Next journal LSN the drain will read. */
  private drainedTo: number;
  private readonly windowMs: number;
  private readonly maxExtentBytes: number;
  private readonly log: (msg: string) => void;
  /** Bookmarks at or below this LSN are not crash-consistent (a gap is being filled). */
  private suppressBookmarksUntil = 0;
  private pos = 0;
  /** pos of the last record of a unit → the journal LSN it completes. */
  private marks: Array<{ pos: number; lsn: number; scanDisk?: number }> = [];
  private committedLsn = 0;
  private scansToForget: number[] = [];
  private wake?: () => void;
  /** Their lastLsn: a wake-up that brings the newest bookmark skips the window. */
  private readonly bookmarks: BookmarkRequests;
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
    this.drainedTo = journal.releasedLsn + 1;
    this.committedLsn = this.drainedTo - 1;
    this.windowMs = opts.windowMs ?? 100;
    this.maxExtentBytes = opts.maxExtentBytes ?? 4 * 1024 * 1024;
    this.newDrain = (fromLsn) =>
      new DrainPoller(
        journal,
        fromLsn,
        {
          maxWindowBytes: opts.maxWindowBytes ?? 8 * 1024 * 1024,
          maxExtentBytes: this.maxExtentBytes,
          thread: opts.drainThread !== false,
        },
        () => this.suppressBookmarksUntil,
      );
    this.drain = this.newDrain(this.drainedTo);
    this.log = opts.log ?? (() => {});
    this.bookmarks = new BookmarkRequests(journal, this.log);
    const gate = opts.gate;
    if (gate) this.holdWrites = () => gate.close();
    this.unsubscribe = journal.onAppend(() => this.wake?.());
  }

  /** Resolves once the drain is running (its thread started): callers may wait before serving. */
  ready(): Promise<void> {
    return this.drain.ready();
  }

  /** Next journal LSN the source will read (everything below it has been read). */
  get readLsn(): number {
    return this.drainedTo;
  }

  private caughtUp(): boolean {
    return this.drainedTo > this.journal.lastLsn;
  }

  private dropBookmark(id: string): void {
    this.log(`journal source: bookmark ${id} dropped: it falls inside a resync`);
    this.droppedBookmarks.push(id);
  }

  /**
   * Reads what the journal holds now, coalesced, in stream order (the drain thread does the
   * reading; Resync records become scans of the dirty-bitmap blocks here, where the bitmaps
   * are). Windows without a bookmark are cut when they exceed maxWindowBytes or at the end.
   */
  async poll(maxItems = 256, maxRecords = 4096): Promise<PollItem[]> {
    const res = await this.drain.poll(maxItems, maxRecords);
    this.drainedTo = res.nextLsn;
    this.stats.records += res.records;
    this.stats.coalescedBytes += res.coalescedBytes;
    for (const id of res.dropped) this.dropBookmark(id);
    const out: PollItem[] = [];
    for (const item of res.items) {
      if (item.kind === 'set') {
        out.push(item);
        continue;
      }
      const all = this.journal.disks();
      const disks = item.diskIndex === ALL_DISKS ? all : [all[item.diskIndex]!];
      for (const d of disks) {
        const ranges = this.journal.bitmap(d.index).takeForScan();
        if (ranges.length)
          out.push({
            kind: 'scan',
            scan: { diskId: d.diskId, diskIndex: d.index, path: d.path, ranges, lsn: item.lsn },
          });
      }
      // Until the scan has read the image, no bookmark describes a real state; the scan
      // lowers this to the journal's end when it finishes.
      this.suppressBookmarksUntil = Number.MAX_SAFE_INTEGER;
    }
    return out;
  }

  private nextPos(): number {
    return ++this.pos;
  }

  async *changes(signal: AbortSignal): AsyncGenerator<ChangeRecord> {
    const buf = Buffer.allocUnsafe(this.maxExtentBytes);
    while (!signal.aborted) {
      this.bookmarks.insertWaiting();
      if (this.caughtUp()) {
        yield { kind: 'idle', pos: this.nextPos() };
        let onAbort = () => {};
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          onAbort = () => resolve();
          signal.addEventListener('abort', onAbort, { once: true });
          if (signal.aborted || !this.caughtUp() || this.bookmarks.pending) resolve();
        });
        signal.removeEventListener('abort', onAbort);
        this.wake = undefined;
        if (signal.aborted) break;
        // The batch window: let overwrites of the same blocks land before reading them. Not
        // when a bookmark is among the new records: everything before it goes out anyway, and
        // the window would only add its length to the point's RPO.
        if (this.windowMs > 0 && this.bookmarks.lastLsn < this.drainedTo)
          await new Promise((r) => setTimeout(r, this.windowMs));
      }
      await new Promise((r) => setImmediate(r));
      for (const item of await this.poll()) {
        if (item.kind === 'set') {
          const s = item.set;
          // A resync met since the drain read this cut drops it (the drain dropped those it knew of).
          if (s.bookmark && s.upToLsn <= this.suppressBookmarksUntil) {
            this.dropBookmark(s.bookmark.id);
            delete s.bookmark;
          }
          const mark = (pos: number) => this.marks.push({ pos, lsn: s.upToLsn });
          // An empty set (no extent, no bookmark) completes where the stream is.
          if (!s.extents.length && !s.bookmark) mark(this.pos);
          yield* changeSetRecords(s, () => this.nextPos(), mark, this.stats);
        } else {
          yield* this.scan(item.scan, buf);
        }
      }
    }
  }

  /** Sends the scan ranges from the image in extents of ≤ maxExtentBytes, zeroes as ranges. */
  private async *scan(s: ScanItem, buf: Buffer): AsyncGenerator<ChangeRecord> {
    // The image must hold every write before the Resync record (some may still be in flight).
    await this.journal.releases.settleDisk(s.diskIndex);
    for await (const c of readImageRanges(s.path, s.ranges, buf)) {
      this.stats.scannedBytes += c.length;
      yield { kind: 'extent', pos: this.nextPos(), diskId: s.diskId, ...c };
    }
    this.log(
      `journal source: resync of ${s.diskId}: ${s.ranges.reduce((a, r) => a + r.length, 0)} bytes from the image`,
    );
    this.marks.push({ pos: this.pos, lsn: s.lsn, scanDisk: s.diskIndex });
    // Every journal record up to here will be re-applied after the scanned content.
    this.suppressBookmarksUntil = this.journal.lastLsn;
  }

  /** See BookmarkRequests: appended now, or once journaling resumes after an overflow. */
  requestBookmark(req: BookmarkRequest): Promise<void> {
    return this.bookmarks.request(req, () => this.wake?.());
  }

  /**
   * Bookmarks up to `lsn` describe no state of a replica that is being filled from scratch (a
   * new generation: its whole disk is resent at a Resync record after them): drop them.
   */
  dropBookmarksThrough(lsn: number): void {
    this.suppressBookmarksUntil = Math.max(this.suppressBookmarksUntil, lsn);
  }

  /**
   * The consumer lost what it was handed since its last commit (its pump failed and restarts):
   * read the journal again from the first record not committed. Handed out again is what was
   * lost, and what was taken but not spooled yet (the same bytes in the same order, so the
   * replica ends the same); a scan handed out is redone (its blocks are dirty again).
   */
  async rewind(): Promise<void> {
    await this.drain.close();
    this.marks = [];
    this.drainedTo = this.committedLsn + 1;
    for (const d of this.journal.disks()) this.journal.bitmap(d.index).restoreScan();
    this.drain = this.newDrain(this.drainedTo);
    await this.drain.ready();
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
  }

  async close(): Promise<void> {
    this.unsubscribe();
    this.wake?.();
    await this.drain.close();
  }
}
