import type { DirtyBitmap } from './dirtyBitmap';
import { JournalAppender } from './journalAppender';
import { JournalDisks } from './journalDisks';
import { JournalReader } from './journalReader';
import { JournalRelease } from './journalRelease';
import type { JournalStateFile } from './journalStateFile';
import {
  type DiskInfo,
  type JournalOptions,
  type JournalRecord,
  type JournalState,
  type JournalTail,
  type RecoveryKind,
  type Segment,
} from './journalTypes';
import { openJournalParts } from './openJournalParts';
import type { OverflowState } from './overflowState';
import type { SegmentLog } from './segmentLog';
import { ALL_DISKS, RecordType, type BookmarkPayload } from './records';
import { DirectPayloads } from './directPayloads';
import type { HeldRecord } from './memoryRecords';
import { JournalResyncs } from './journalResyncs';

/**
 * The machine-wide write journal of the agent: one append-only log shared by every disk the
 * machine serves. One log (and one LSN sequence, appended from one thread) is what makes a
 * bookmark atomic across disks: every write of every disk is either before it or after it.
 *
 * Durability: appends are plain write(2)s (page cache), made durable by `sync()` (group-commit
 * fdatasync); large payloads go O_DIRECT, later records held until they are in. The splitter
 * appends a record before touching the disk image, so after a process crash the journal is a
 * superset of the image (the page cache survives a kill -9; recovery re-applies the last
 * records), but for the image writes issued beside held records, whose marks say what to resync
 * (see AheadMarks). After a host crash (boot id changed while the journal was open) the records
 * after the last disk sync are redone and the intent log's regions resynced (docs/nbd.md).
 */
export class MachineJournal {
  readonly dir: string;
  private state: JournalState;
  private readonly stateFile: JournalStateFile;
  private readonly segs: SegmentLog;
  private readonly overflow: OverflowState;
  private readonly log: (msg: string) => void;
  /** The served disks: their state entries and bitmaps. */
  private readonly served: JournalDisks;
  /** LSNs, corked batches and append listeners. */
  private readonly appender: JournalAppender;
  /** Journaling is stopped (overflow, rule 5): changes go to the dirty bitmaps. */
  get overflowed(): boolean {
    return this.overflow.stopped;
  }
  get capacityBytes(): number {
    return this.overflow.capacityBytes;
  }
  readonly recovery: RecoveryKind;
  /**
   * The last write/zero records found at open (at most REDO_RECORDS per disk, none from before
   * an overflow), oldest first: re-applied by the splitter after a process crash, since the
   * image may lack up to one corked batch of them. Re-applying a suffix of the log in order is
   * idempotent: every earlier record is on the image already.
   */
  readonly redo: JournalRecord[];
  closed = false;
  /**
   * Segments dropped once released and durable on the disks; the disks' lazy syncs (the
   * splitters register theirs), the overflow's sync, the host-crash redo start.
   */
  readonly releases: JournalRelease;
  /** Large payloads journaled O_DIRECT from the memory they were received in. */
  private readonly direct: DirectPayloads;
  /** Overflow and resume, disks sent again from their images. */
  private readonly resyncs: JournalResyncs;

  private constructor(opts: JournalOptions) {
    this.dir = opts.dir;
    const p = openJournalParts(opts);
    this.overflow = p.overflow;
    this.log = p.log;
    this.stateFile = p.stateFile;
    this.state = p.state;
    this.recovery = p.recovery;
    this.redo = p.redo;
    this.segs = p.segs;
    // Records held behind a direct payload become readable once written: wake the readers.
    this.segs.onHeldWritten = () => this.notify();
    this.served = new JournalDisks(p);
    this.appender = new JournalAppender(p.segs, p.nextLsn);
    this.direct = new DirectPayloads(p.slabs, this.appender);
    this.resyncs = new JournalResyncs(p, this.appender, this.served);
    this.releases = new JournalRelease(
      p,
      this.appender,
      () => this.maybeResume(),
      () => this.direct.journaledBytes,
    );
    const { bootId, recovery } = p;
    const started = { bootId, pid: process.pid, startedAt: new Date().toISOString(), recovery };
    this.appender.append(RecordType.Open, ALL_DISKS, 0, 0, Buffer.from(JSON.stringify(started)));
  }

  static open(opts: JournalOptions): MachineJournal {
    return new MachineJournal(opts);
  }

  get machineId(): string {
    return this.state.machineId;
  }

  /** Bytes held for records not yet released downstream. */
  retainedBytes(): number {
    return this.segs.retainedBytes();
  }

  /** Change records appended while corked go in one writev at uncork (see JournalAppender). */
  cork(): void {
    this.appender.cork();
  }

  uncork(): void {
    this.appender.uncork();
  }

  /** Writes the batched records (if any). */
  flushBatch(): void {
    this.appender.flushBatch();
  }

  /** Registers a disk (idempotent by diskId) and returns its index in records. */
  registerDisk(
    diskId: string,
    size: number,
    path: string,
    opts: { initialSync?: boolean } = {},
  ): DiskInfo {
    const { disk, dirty } = this.served.register(diskId, size, path, opts);
    if (dirty) {
      // Leftover dirty blocks (overflow before a restart, host crash): scan them from here.
      this.appender.append(RecordType.Resync, disk.index, 0, 0);
    }
    return disk;
  }

  disks(): DiskInfo[] {
    return this.served.list();
  }

  /** Regions (INTENT_REGION bytes) written since their last FLUSH: what a host crash can tear. */
  intent(diskIndex: number): DirtyBitmap {
    return this.served.intentOf(diskIndex);
  }

  bitmap(diskIndex: number): DirtyBitmap {
    return this.served.dirtyOf(diskIndex);
  }

  /**
   * Where a large WRITE payload of `length` bytes should be received: memory its record can
   * be journaled from O_DIRECT (see appendWrite); undefined: any buffer.
   */
  payloadBuffer(length: number): Buffer | undefined {
    return this.direct.buffer(length);
  }

  /**
   * Appends a data write; undefined when journaling is stopped (caller marks the bitmap). A
   * payload in `payloadBuffer` memory is written O_DIRECT, off the event loop: the record is in
   * the file (readable, and safe to apply to the disk) once `tail.whenWritten(lsn)` settles.
   */
  appendWrite(diskIndex: number, offset: number, data: Buffer): number | undefined {
    if (!this.resyncs.admit(data.length)) return undefined;
    const lsn =
      this.direct.append(diskIndex, offset, data) ??
      this.appender.appendChange(RecordType.Write, diskIndex, offset, data.length, data);
    this.notify();
    return lsn;
  }

  /** Takes the records in the file whose payload is in memory, with their holds on it. */
  takeMemoryRecords(): HeldRecord[] {
    return this.direct.take(this.writtenLsn);
  }

  /** The release of the hold `payloadBuffer` gave on `data`: call it once the write is over. */
  adoptPayload(data: Uint8Array): () => void {
    return this.direct.adopt(data);
  }

  /** The last LSN whose record is in the file, every one before it too. */
  get writtenLsn(): number {
    return this.segs.writtenLsn;
  }

  /** Its tail: what is held back, and when a record is in the file (see HeldTail). */
  get tail(): JournalTail {
    return this.segs;
  }

  appendZero(diskIndex: number, offset: number, length: number): number | undefined {
    if (!this.resyncs.admit(0)) return undefined;
    const lsn = this.appender.appendChange(RecordType.Zero, diskIndex, offset, length);
    this.notify();
    return lsn;
  }

  /**
   * Inserts a machine-wide bookmark between writes. Refused (undefined) while journaling is
   * stopped: the disks' history has a gap, so no point in it is crash-consistent.
   */
  insertBookmark(
    b: Omit<BookmarkPayload, 'createdAt'> & { createdAt?: string },
  ): { lsn: number; bookmark: BookmarkPayload } | undefined {
    if (this.overflowed) return undefined;
    const bookmark: BookmarkPayload = { ...b, createdAt: b.createdAt ?? new Date().toISOString() };
    const lsn = this.appender.append(
      RecordType.Bookmark,
      ALL_DISKS,
      0,
      0,
      Buffer.from(JSON.stringify(bookmark)),
    );
    this.notify();
    return { lsn, bookmark };
  }

  /** Resolves when everything appended so far is on stable storage. */
  sync(): Promise<void> {
    return this.segs.sync();
  }

  get syncCount(): number {
    return this.segs.syncCount;
  }

  /** LSN of the last appended record. */
  get lastLsn(): number {
    return this.appender.lastLsn;
  }

  /** Downstream durably holds everything ≤ lsn: segments go (see JournalRelease). */
  release(lsn: number): Promise<void> {
    return this.releases.release(lsn);
  }

  get releasedLsn(): number {
    return this.state.releasedLsn;
  }

  addResumeGuard(g: () => boolean): void {
    this.overflow.addGuard(g);
  }

  /** Resume journaling once there is room again (see JournalResyncs). */
  maybeResume(): boolean {
    return this.resyncs.maybeResume();
  }

  /** A disk's dirty blocks sent again from its image, from here (see JournalResyncs). */
  requestResync(diskIndex: number): void {
    this.resyncs.requestResync(diskIndex);
  }

  /** The whole disk sent again from its image, from here (see JournalResyncs). */
  resyncWholeDisk(diskIndex: number): void {
    this.resyncs.resyncWholeDisk(diskIndex);
  }

  /** Called on every append (readers wake up). */
  onAppend(f: () => void): () => void {
    return this.appender.onAppend(f);
  }

  private notify(): void {
    this.appender.notify();
  }

  /** A cursor over records with lsn ≥ fromLsn (default: first unreleased). */
  reader(fromLsn = this.state.releasedLsn + 1): JournalReader {
    return new JournalReader(this, fromLsn);
  }

  /** @internal */
  segmentList(): readonly Segment[] {
    return this.segs.list();
  }

  /** Clean shutdown: everything synced, state marked closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.appender.dropCorks();
    await this.sync();
    await this.releases.syncForClose();
    await this.segs.close();
    this.direct.close();
    this.closed = true;
    this.served.close();
    this.state.open = false;
    this.stateFile.writeSync(this.state);
  }
}
