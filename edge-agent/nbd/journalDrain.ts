import { closeSync, openSync, readSync } from 'node:fs';
import { IntervalMap, toExtents } from '../journal/coalescer';
import { JournalReader, readPayload, type JournalView } from '../journal/journalReader';
import { ReadAheadPool } from '../journal/readAheadPool';
import type { MemoryRecord, Segment } from '../journal/journalTypes';
import { ALL_DISKS, RecordType, type BookmarkPayload } from '../journal/records';
import type {
  DrainItem,
  DrainOptions,
  DrainRequest,
  DrainResult,
  JournalChangeSet,
  JournalSnapshot,
  MemoryRef,
} from './drainTypes';

/**
 * Reads the journal in LSN order and coalesces overwrites within a window (last writer wins),
 * cutting the window at every bookmark, so coalescing never moves a write across one. Only file
 * reads and memory: it runs in a worker thread beside the NBD server (see DrainThread), which
 * is why it sees the journal through snapshots rather than the journal object.
 */
export class JournalDrain implements JournalView {
  private readonly reader: JournalReader;
  private readonly windows = new Map<number, IntervalMap>();
  private readonly fdCache = new Map<string, number>();
  /** Segment objects by path, kept across snapshots (the reader follows them by identity). */
  private readonly segments = new Map<string, Segment>();
  /** Buffers shared by several records (the reader's read-ahead): views of them are not ours to give away. */
  private readonly shared = new WeakSet<ArrayBufferLike>();
  private view: JournalSnapshot = { lastLsn: 0, segments: [], disks: [] };
  /** LSN of the last record read. */
  private readLsn: number;
  /** Read-ahead buffers, reused once the records in them were cut and copied out. */
  private readonly readAheads = new ReadAheadPool();
  /** LSN of the last record read when the windows were last all empty (cut). */
  private cutLsn: number;

  constructor(
    fromLsn: number,
    private readonly opts: DrainOptions,
  ) {
    this.readLsn = fromLsn - 1;
    this.cutLsn = this.readLsn;
    this.reader = new JournalReader(
      this,
      fromLsn,
      (size) => this.readAheads.take(size, this.reader.nextLsn),
      // Not taken out here: the reader may look at the next record before moving to the
      // segment it is in (read ones go at the next snapshot).
      (lsn) => this.memory.get(lsn),
    );
  }

  /** Read-ahead buffers allocated (not reused) so far. */
  get readAheadsAllocated(): number {
    return this.readAheads.allocated;
  }

  /**
   * Call once nothing outside the drain refers to the bytes of the last poll (they were copied
   * out): read-ahead buffers that hold only records cut since may be refilled.
   */
  recycle(): void {
    this.readAheads.release(this.cutLsn);
  }

  /** The reader's JournalView: the journal as of the last snapshot. */
  get lastLsn(): number {
    return this.view.lastLsn;
  }

  segmentList(): readonly Segment[] {
    return this.view.segments;
  }

  get nextLsn(): number {
    return this.reader.nextLsn;
  }

  /** In-memory records of the snapshots so far, not read yet (see JournalSnapshot.memory). */
  private readonly memory = new Map<number, MemoryRecord>();

  /** Takes the journal's current state; files no longer in it are closed. */
  private update(s: JournalSnapshot): void {
    for (const m of s.memory ?? []) if (m.lsn >= this.reader.nextLsn) this.memory.set(m.lsn, m);
    for (const lsn of this.memory.keys()) if (lsn < this.reader.nextLsn) this.memory.delete(lsn);
    const live = new Set<string>();
    const segments = s.segments.map((x) => {
      live.add(x.path);
      const known = this.segments.get(x.path);
      if (!known) {
        const seg = { ...x };
        this.segments.set(x.path, seg);
        return seg;
      }
      known.size = x.size;
      return known;
    });
    for (const path of [...this.segments.keys()]) if (!live.has(path)) this.segments.delete(path);
    for (const [path, fd] of this.fdCache) {
      if (!live.has(path)) {
        closeSync(fd);
        this.fdCache.delete(path);
      }
    }
    this.view = { ...s, segments };
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
  private cut(out: DrainItem[], upToLsn: number, bookmark?: BookmarkPayload): void {
    const sets: JournalChangeSet[] = [];
    for (const d of this.view.disks) {
      const w = this.windows.get(d.index);
      if (!w || !w.pieces.length) continue;
      sets.push({
        diskId: d.diskId,
        diskIndex: d.index,
        extents: toExtents(w, this.opts.maxExtentBytes, this.alloc, (b) => !this.views.has(b)),
        upToLsn,
      });
      w.clear();
    }
    if (bookmark) {
      if (sets.length) sets[sets.length - 1]!.bookmark = bookmark;
      else sets.push({ diskId: '', diskIndex: ALL_DISKS, extents: [], bookmark, upToLsn });
    }
    for (const set of sets) out.push({ kind: 'set', set });
    // No window refers to a record read so far (once the caller copied these sets out).
    if ([...this.windows.values()].every((w) => !w.pieces.length)) this.cutLsn = this.readLsn;
  }

  /**
   * Extents of the last poll that are payloads in the writer's shared memory, as they are: the
   * record and where in its payload. Never joined or copied: the receiver of a thread's results
   * finds them in its own records (a join into pack chunks was a sixth of the server's CPU in
   * the sequential splitter job).
   */
  private views = new Map<Buffer, MemoryRef>();

  private memoryView(b: Buffer, lsn: number, from: number): Buffer {
    this.views.set(b, { lsn, from });
    return b;
  }

  /** Where `b`, an extent's bytes in the last poll's result, lies in a record kept in memory. */
  memoryRef(b: Buffer): MemoryRef | undefined {
    return this.views.get(b);
  }

  /** Where the poll running joins adjacent pieces (see `poll`). */
  private alloc: ((length: number) => Buffer) | undefined;

  /**
   * Reads what the journal holds in the snapshot, coalesced, in stream order. Windows without a
   * bookmark are cut when they exceed maxWindowBytes or at the snapshot's end. Adjacent pieces
   * joined into one extent are copied into `alloc(length)` (default: a new buffer).
   */
  poll(req: DrainRequest, alloc?: (length: number) => Buffer): DrainResult {
    this.alloc = alloc;
    this.views = new Map();
    try {
      return this.read(req);
    } finally {
      this.alloc = undefined;
    }
  }

  private read(req: DrainRequest): DrainResult {
    this.update(req.snapshot);
    let suppress = req.suppressBookmarksUntil;
    const res: DrainResult = {
      items: [],
      nextLsn: 0,
      dropped: [],
      cutLsn: 0,
      records: 0,
      coalescedBytes: 0,
    };
    const out = res.items;
    const maxBytes = req.maxBytes ?? Number.MAX_SAFE_INTEGER;
    let bytes = 0;
    while (out.length < req.maxItems && res.records < req.maxRecords && bytes < maxBytes) {
      const rec = this.reader.next();
      if (!rec) break;
      res.records++;
      bytes += rec.payloadLen;
      this.readLsn = rec.lsn;
      switch (rec.type) {
        case RecordType.Write: {
          const w = this.window(rec.diskIndex);
          const before = w.bytes;
          const data = rec.data;
          if (data) this.shared.add(data.buffer);
          const lsn = rec.lsn;
          // In memory (the writer's shared memory) or in a read-ahead buffer of the reader.
          const kept = this.memory.has(lsn);
          w.set(rec.offset, rec.offset + rec.length, {
            kind: 'data',
            base: 0,
            read: !data
              ? this.readRecordData(rec.segmentPath, rec.payloadPos)
              : kept
                ? (f, l) => this.memoryView(data.subarray(f, f + l), lsn, f)
                : (f, l) => data.subarray(f, f + l),
          });
          res.coalescedBytes += before + rec.length - w.bytes;
          break;
        }
        case RecordType.Zero:
          this.window(rec.diskIndex).set(rec.offset, rec.offset + rec.length, { kind: 'zero' });
          break;
        case RecordType.Bookmark: {
          const b = JSON.parse(readPayload(rec).toString('utf8')) as BookmarkPayload;
          if (rec.lsn <= suppress) {
            res.dropped.push(b.id);
            break;
          }
          this.cut(out, rec.lsn, b);
          break;
        }
        case RecordType.Resync:
          this.cut(out, rec.lsn - 1);
          out.push({ kind: 'resync', diskIndex: rec.diskIndex, lsn: rec.lsn });
          // Until the scan has read the image, no bookmark describes a real state.
          suppress = Number.MAX_SAFE_INTEGER;
          break;
        default:
          break; // Open, Overflow: nothing to send
      }
      if (this.windowBytes() >= this.opts.maxWindowBytes) this.cut(out, rec.lsn);
    }
    // Caught up: the window ends here. Otherwise it stays open for the next call (its pieces'
    // records are not committed, so their segments stay).
    if (this.reader.nextLsn > this.view.lastLsn) this.cut(out, this.readLsn);
    res.nextLsn = this.reader.nextLsn;
    res.cutLsn = this.cutLsn;
    return res;
  }

  /**
   * An extent's bytes are a buffer of their own, nothing else refers to (a join of several
   * pieces made without an allocator, or a payload read for it alone): it can be handed to
   * another thread as it is.
   */
  owns(b: Buffer): boolean {
    return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !this.shared.has(b.buffer);
  }

  close(): void {
    this.reader.close();
    for (const fd of this.fdCache.values()) closeSync(fd);
    this.fdCache.clear();
  }
}
