import type { DirtyBitmap } from './dirtyBitmap';
import { DiskBitmaps } from './diskBitmaps';
import { DiskSyncs } from './diskSyncs';
import { JournalReader } from './journalReader';
import { JournalStateFile } from './journalStateFile';
import { recoverJournal } from './recoverJournal';
import {
  type DiskInfo,
  type JournalOptions,
  type JournalRecord,
  type JournalState,
  type RecoveryKind,
  type Segment,
} from './journalTypes';
import { OverflowState } from './overflowState';
import { SegmentLog } from './segmentLog';
import { ALL_DISKS, encodeHeader, RecordType, type BookmarkPayload } from './records';

/**
 * The machine-wide write journal of the agent: one append-only log shared by every disk the
 * machine serves. One log (and one LSN sequence, appended from one thread) is what makes a
 * bookmark atomic across disks: every write of every disk is either before it or after it.
 *
 * Durability: appends are plain write(2)s (page cache), made durable by `sync()` (group-commit
 * fdatasync). The splitter appends a record BEFORE touching the disk image, so after a process
 * crash the journal is a superset of the image (the page cache survives a kill -9); recovery
 * re-applies the last record. After a host crash (boot id changed while the journal was open)
 * writes that were never flushed may be on the image but not in the journal, so every disk is
 * marked dirty and resynced by the scan path.
 */
export class MachineJournal {
  readonly dir: string;
  private state: JournalState;
  private readonly stateFile: JournalStateFile;
  private readonly segs: SegmentLog;
  private readonly overflow: OverflowState;
  private readonly log: (msg: string) => void;
  private readonly diskBitmaps: DiskBitmaps;
  /** Next LSN to assign. */
  private nextLsn = 1;
  /** Journaling is stopped (overflow, rule 5): changes go to the dirty bitmaps. */
  get overflowed(): boolean {
    return this.overflow.stopped;
  }
  get capacityBytes(): number {
    return this.overflow.capacityBytes;
  }
  private listeners: Array<() => void> = [];
  readonly recovery: RecoveryKind;
  /**
   * The last write/zero records found at open (at most REDO_RECORDS per disk, none from before
   * an overflow), oldest first: re-applied by the splitter after a process crash, since the
   * image may lack up to one corked batch of them. Re-applying a suffix of the log in order is
   * idempotent: every earlier record is on the image already.
   */
  readonly redo: JournalRecord[];
  closed = false;
  private readonly diskSyncs: DiskSyncs;
  private readonly diskSyncLagBytes: number;

  private constructor(opts: JournalOptions) {
    this.dir = opts.dir;
    const capacityBytes = opts.capacityBytes ?? 4 * 1024 * 1024 * 1024;
    const resumeBelowBytes = opts.resumeBelowBytes ?? Math.floor(capacityBytes / 2);
    this.overflow = new OverflowState(capacityBytes, resumeBelowBytes);
    this.log = opts.log ?? (() => {});
    this.diskBitmaps = new DiskBitmaps(this.dir, opts.bitmapBlock ?? 64 * 1024, this.log);
    const found = recoverJournal({ ...opts, log: this.log });
    const { scan, recovery, bootId } = found;
    this.stateFile = found.stateFile;
    this.state = found.state;
    this.recovery = recovery;
    this.redo = found.redo;
    this.nextLsn = Math.max(scan.nextLsn, this.state.releasedLsn + 1);
    this.diskSyncs = new DiskSyncs(this.state.diskSyncedLsn!);
    const segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.diskSyncLagBytes = Math.min(
      opts.diskSyncLagBytes ?? 2 * segmentBytes,
      Math.floor(resumeBelowBytes / 2),
    );
    this.state.bootId = bootId;
    this.state.open = true;
    if (opts.machineId) this.state.machineId = opts.machineId;
    this.stateFile.writeSync(this.state);
    this.segs = new SegmentLog(
      {
        dir: this.dir,
        segmentBytes,
        preallocate: opts.preallocate ?? false,
        log: this.log,
      },
      scan.segments,
      this.nextLsn,
    );
    if (recovery === 'host-crash' || recovery === 'journal-lost') {
      this.log(`journal: ${recovery}: every disk is marked for resync`);
    }
    // After a host crash only the regions in each disk's intent log are resynced (see
    // registerDisk); after journal loss, everything.
    this.pendingFullResync = recovery === 'journal-lost';
    this.append(
      RecordType.Open,
      ALL_DISKS,
      0,
      0,
      Buffer.from(
        JSON.stringify({ bootId, pid: process.pid, startedAt: new Date().toISOString(), recovery }),
      ),
    );
  }

  private readonly pendingFullResync: boolean;

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

  private append(
    type: RecordType,
    diskIndex: number,
    offset: number,
    length: number,
    payload?: Buffer,
    batched = false,
  ): number {
    const lsn = this.nextLsn++;
    const h = encodeHeader(
      { type, flags: 0, diskIndex, lsn, offset, length, payloadLen: payload?.length ?? 0 },
      payload,
    );
    this.segs.append(lsn, h, payload, batched);
    return lsn;
  }

  /**
   * Change records appended while corked (one socket read's worth of WRITEs) are written with
   * one writev at uncork instead of one write(2) each. The caller (the splitter) writes the
   * disk only after flushBatch(), so "journal first, disk second" holds for the whole batch.
   * Every other append, sync, rotation and close flushes the batch first.
   */
  private corked = 0;

  cork(): void {
    this.corked++;
  }

  uncork(): void {
    if (this.corked > 0) this.corked--;
    if (this.corked === 0) this.flushBatch();
  }

  /** Writes the batched records (if any). */
  flushBatch(): void {
    this.segs.flushBatch();
  }

  /** Registers a disk (idempotent by diskId) and returns its index in records. */
  registerDisk(
    diskId: string,
    size: number,
    path: string,
    opts: { initialSync?: boolean } = {},
  ): DiskInfo {
    let index = this.state.disks.findIndex((d) => d.diskId === diskId);
    const isNew = index < 0;
    if (index < 0) {
      this.state.disks.push({ diskId, size, path });
      index = this.state.disks.length - 1;
      this.stateFile.writeSync(this.state);
    } else if (this.state.disks[index]!.size !== size || this.state.disks[index]!.path !== path) {
      this.state.disks[index] = { diskId, size, path };
      this.stateFile.writeSync(this.state);
    }
    const dirty = this.diskBitmaps.open(
      index,
      { diskId, size, isNew, initialSync: opts.initialSync },
      { fullResync: this.pendingFullResync, hostCrash: this.recovery === 'host-crash' },
    );
    if (dirty) {
      // Leftover dirty blocks (overflow before a restart, host crash): scan them from here.
      this.append(RecordType.Resync, index, 0, 0);
    }
    return { index, diskId, size, path };
  }

  disks(): DiskInfo[] {
    return this.state.disks.map((d, index) => ({ ...d, index }));
  }

  /** Regions (INTENT_REGION bytes) written since their last FLUSH: what a host crash can tear. */
  intent(diskIndex: number): DirtyBitmap {
    return this.diskBitmaps.intentOf(diskIndex);
  }

  bitmap(diskIndex: number): DirtyBitmap {
    return this.diskBitmaps.dirtyOf(diskIndex);
  }

  /** Would a change of `bytes` payload fit? If not, journaling stops (overflow). */
  private admit(bytes: number): boolean {
    if (this.overflowed) return false;
    if (!this.overflow.fits(this.retainedBytes(), bytes)) {
      this.flushBatch();
      this.overflow.stopped = true;
      this.append(RecordType.Overflow, ALL_DISKS, 0, 0);
      this.log(
        'journal: capacity reached; tracking changes in dirty bitmaps until the sender catches up',
      );
      return false;
    }
    return true;
  }

  /** Appends a data write; undefined when journaling is stopped (caller marks the bitmap). */
  appendWrite(diskIndex: number, offset: number, data: Buffer): number | undefined {
    if (!this.admit(data.length)) return undefined;
    const lsn = this.append(
      RecordType.Write,
      diskIndex,
      offset,
      data.length,
      data,
      this.corked > 0,
    );
    this.notify();
    return lsn;
  }

  appendZero(diskIndex: number, offset: number, length: number): number | undefined {
    if (!this.admit(0)) return undefined;
    const lsn = this.append(RecordType.Zero, diskIndex, offset, length, undefined, this.corked > 0);
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
    const lsn = this.append(
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
    return this.nextLsn - 1;
  }

  /**
   * Downstream (batcher + spool) durably holds everything ≤ lsn: drop whole segments. A segment
   * also waits until a disk sync covers its records (a FLUSH synced the journal only, so until
   * then the journal is the durable copy of those changes); the disks are synced here once
   * `diskSyncLagBytes` of released segments are held back for it.
   */
  async release(lsn: number): Promise<void> {
    if (lsn <= this.state.releasedLsn) return;
    this.state.releasedLsn = lsn;
    const held = this.segs.droppableBytes(lsn) - this.segs.droppableBytes(this.diskSyncs.syncedLsn);
    if (held > 0 && (held >= this.diskSyncLagBytes || this.overflowed)) await this.syncDisks();
    // The released LSN is on disk before any segment goes: a restart must never find a gap
    // between it and the first segment (that would read as journal loss → full resync).
    // Async, so the NBD server sharing this event loop is not held by two fsyncs.
    this.state.diskSyncedLsn = this.diskSyncs.syncedLsn;
    await this.stateFile.write(this.state);
    this.segs.releaseThrough(Math.min(this.state.releasedLsn, this.diskSyncs.syncedLsn));
    this.maybeResume();
  }

  /** The splitter of a disk registers its image sync (see DiskSyncs). */
  onDiskSync(diskIndex: number, sync: () => Promise<void>): () => void {
    return this.diskSyncs.register(diskIndex, sync);
  }

  /** Every record appended so far becomes durable on its disk. */
  syncDisks(): Promise<void> {
    this.flushBatch();
    return this.diskSyncs.syncAll(this.lastLsn);
  }

  /**
   * Before an unjournaled (overflow) write changes a disk: every journaled record is durable on
   * the disks, and the state says so. A host crash redoes only records after `diskSyncedLsn`,
   * so the redo never replays a record over a newer write the journal does not have. Once per
   * overflow (the caller writes its own queued records to the image first).
   */
  beforeUnjournaled(): Promise<void> {
    return this.overflow.syncOnce(() =>
      this.syncDisks().then(() => {
        this.state.diskSyncedLsn = this.diskSyncs.syncedLsn;
        return this.stateFile.write(this.state);
      }),
    );
  }

  /**
   * After a host crash: where the redo onto the disks starts (records after the last disk sync;
   * undefined after any other kind of start). Segments below it were dropped only after a disk
   * sync, so the retained journal holds every record the redo needs.
   */
  hostCrashRedoFrom(): number | undefined {
    if (this.recovery !== 'host-crash') return undefined;
    const first = this.segs.list()[0]?.firstLsn ?? this.nextLsn;
    return Math.max(this.diskSyncs.syncedLsn + 1, first);
  }

  get releasedLsn(): number {
    return this.state.releasedLsn;
  }

  addResumeGuard(g: () => boolean): void {
    this.overflow.addGuard(g);
  }

  /** Resume journaling once there is room again and no unjournaled write is in flight. */
  maybeResume(): boolean {
    if (!this.overflow.tryResume(this.retainedBytes())) return false;
    this.append(RecordType.Resync, ALL_DISKS, 0, 0);
    this.log('journal: resumed; dirty blocks will be sent by the scan path');
    this.notify();
    return true;
  }

  /**
   * Asks the reader to send [the dirty-bitmap blocks of] a disk again from its image, at this
   * point of the stream. While journaling is stopped the resume record will cover it.
   */
  requestResync(diskIndex: number): void {
    if (this.overflowed) return;
    this.append(RecordType.Resync, diskIndex, 0, 0);
    this.notify();
  }

  /**
   * The whole disk goes again from its image (the control plane started a new generation: a
   * fresh replica that has none of it). The bits are durable before the Resync record, so a
   * crash before the scan ends still resends everything.
   */
  resyncWholeDisk(diskIndex: number): void {
    const bm = this.bitmap(diskIndex);
    bm.markAll();
    bm.persistSync();
    this.requestResync(diskIndex);
  }

  /** Called on every append (readers wake up). */
  onAppend(f: () => void): () => void {
    this.listeners.push(f);
    return () => {
      this.listeners = this.listeners.filter((g) => g !== f);
    };
  }

  private notify(): void {
    for (const f of this.listeners) f();
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
    this.corked = 0;
    await this.sync();
    // The disks hold every record durably: the next start (clean) needs no redo.
    await this.syncDisks();
    this.state.diskSyncedLsn = this.diskSyncs.syncedLsn;
    await this.stateFile.settled();
    await this.segs.close();
    this.closed = true;
    this.diskBitmaps.close();
    this.state.open = false;
    this.stateFile.writeSync(this.state);
  }
}
