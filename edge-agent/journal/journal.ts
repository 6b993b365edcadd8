import {
  chmodSync,
  closeSync,
  existsSync,
  fdatasync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writevSync,
  writeSync,
} from 'node:fs';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DirtyBitmap } from './dirtyBitmap';
import { GroupCommit } from './groupCommit';
import { JournalReader } from './journalReader';
import {
  INTENT_REGION,
  type DiskInfo,
  type JournalOptions,
  type JournalRecord,
  type JournalState,
  type RecoveryKind,
  type Segment,
} from './journalTypes';
import { scanSegments } from './segmentScan';
import { ALL_DISKS, encodeHeader, HEADER_BYTES, RecordType, type BookmarkPayload } from './records';

const fdatasyncP = promisify(fdatasync);
const MAX_SPARES = 2;

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
function currentBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export class MachineJournal {
  readonly dir: string;
  private state: JournalState;
  private segments: Segment[] = [];
  private fd = -1;
  private readonly segmentBytes: number;
  readonly capacityBytes: number;
  private readonly resumeBelowBytes: number;
  private readonly bitmapBlock: number;
  private readonly log: (msg: string) => void;
  private readonly bitmaps = new Map<number, DirtyBitmap>();
  private readonly intents = new Map<number, DirtyBitmap>();
  /** fds written since the last sync (the current segment and rotated ones). */
  private unsynced = new Set<number>();
  /** fds under an fdatasync right now. */
  private syncing = new Set<number>();
  private toClose = new Set<number>();
  private readonly commit: GroupCommit;
  /** Next LSN to assign. */
  private nextLsn = 1;
  overflowed = false;
  /** Callers that must agree before journaling resumes (no overflow write in flight). */
  private resumeGuards: Array<() => boolean> = [];
  private listeners: Array<() => void> = [];
  readonly recovery: RecoveryKind;
  /**
   * The last write/zero records found at open (at most REDO_RECORDS per disk, none from before
   * an overflow), oldest first: re-applied by the splitter after a process crash, since the
   * image may lack up to one corked batch of them. Re-applying a suffix of the log in order is
   * idempotent: every earlier record is on the image already.
   */
  readonly redo: JournalRecord[] = [];
  closed = false;

  private constructor(opts: JournalOptions) {
    this.dir = opts.dir;
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.capacityBytes = opts.capacityBytes ?? 4 * 1024 * 1024 * 1024;
    this.resumeBelowBytes = opts.resumeBelowBytes ?? Math.floor(this.capacityBytes / 2);
    this.bitmapBlock = opts.bitmapBlock ?? 64 * 1024;
    this.log = opts.log ?? (() => {});
    this.preallocate = opts.preallocate ?? false;
    // Owner only: the journal holds every byte the disks were written with.
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    // Spares left by a previous run (released segments kept for reuse).
    for (const n of readdirSync(this.dir)) {
      const m = /^spare-(\d+)\.hvj$/.exec(n);
      if (m) {
        this.spares.push(join(this.dir, n));
        this.spareSeq = Math.max(this.spareSeq, Number(m[1]) + 1);
      } else if (n === 'spare-prep.tmp') unlinkSync(join(this.dir, n));
    }
    const bootId = opts.bootId ?? currentBootId();
    const statePath = join(this.dir, 'state.json');
    let previous: JournalState | undefined;
    if (existsSync(statePath))
      previous = JSON.parse(readFileSync(statePath, 'utf8')) as JournalState;
    this.state = previous ?? {
      v: 1,
      machineId: opts.machineId ?? 'machine',
      bootId,
      open: false,
      releasedLsn: 0,
      disks: [],
    };
    const scan = scanSegments(this.dir, this.state.releasedLsn, this.log);
    this.segments = scan.segments;
    let recovery: RecoveryKind;
    if (!previous) recovery = scan.foundAny ? 'journal-lost' : 'fresh';
    else if (scan.lost) recovery = 'journal-lost';
    else if (!previous.open) recovery = 'clean';
    else if (previous.bootId !== bootId) recovery = 'host-crash';
    else recovery = 'process-crash';
    this.recovery = recovery;
    if (recovery === 'process-crash') this.redo = scan.lastChanges;
    this.nextLsn = Math.max(scan.nextLsn, this.state.releasedLsn + 1);
    this.state.bootId = bootId;
    this.state.open = true;
    if (opts.machineId) this.state.machineId = opts.machineId;
    this.writeState();
    this.commit = new GroupCommit(async () => {
      const fds = [...this.unsynced];
      this.unsynced.clear();
      for (const fd of fds) this.syncing.add(fd);
      try {
        await Promise.all(fds.map((fd) => fdatasyncP(fd)));
      } finally {
        for (const fd of fds) this.syncing.delete(fd);
        // A rotated-away segment is closed once no sync needs it (never under a running
        // fdatasync: the fd number could be reused by another file).
        for (const fd of [...this.toClose]) {
          if (!this.unsynced.has(fd) && !this.syncing.has(fd)) {
            this.toClose.delete(fd);
            closeSync(fd);
          }
        }
      }
    });
    this.openTailSegment();
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

  private pendingFullResync: boolean;
  private spares: string[] = [];
  private spareSeq = 0;
  private preparing?: Promise<void>;
  private readonly preallocate: boolean;

  static open(opts: JournalOptions): MachineJournal {
    return new MachineJournal(opts);
  }

  get machineId(): string {
    return this.state.machineId;
  }

  private writeState(): void {
    const p = join(this.dir, 'state.json');
    const tmp = `${p}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state), { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, p);
    const dfd = openSync(this.dir, 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  }

  private openTailSegment(): void {
    const last = this.segments[this.segments.length - 1];
    if (last && last.size < this.segmentBytes) {
      this.fd = openSync(last.path, 'r+');
    } else {
      this.rotate();
    }
  }

  private rotate(): void {
    if (this.fd >= 0) {
      if (this.unsynced.has(this.fd) || this.syncing.has(this.fd)) this.toClose.add(this.fd);
      else closeSync(this.fd);
    }
    const path = join(this.dir, `seg-${String(this.nextLsn).padStart(16, '0')}.hvj`);
    // A spare (a released segment, or a zero-filled one) has its blocks allocated already, so
    // fdatasync of the records written into it flushes data only, no allocation metadata:
    // measured here ~2.5x cheaper per FLUSH than appending to a growing file.
    const spare = this.spares.shift();
    if (spare) {
      renameSync(spare, path);
      this.fd = openSync(path, 'r+');
    } else {
      this.fd = openSync(path, 'w+', 0o600);
    }
    this.prepareSpare();
    this.segments.push({ firstLsn: this.nextLsn, path, size: 0 });
    // The new file's directory entry must survive a crash before records in it are "durable".
    const dfd = openSync(this.dir, 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  }

  private get tail(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  /** Bytes held for records not yet released downstream. */
  retainedBytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.size;
    return n;
  }

  private append(
    type: RecordType,
    diskIndex: number,
    offset: number,
    length: number,
    payload?: Buffer,
    batched = false,
  ): number {
    // Anything not part of the open batch (bookmarks, session records) goes after it.
    if (!batched) this.flushBatch();
    if (this.tail.size >= this.segmentBytes) {
      this.flushBatch();
      this.rotate();
    }
    const lsn = this.nextLsn++;
    const h = encodeHeader(
      { type, flags: 0, diskIndex, lsn, offset, length, payloadLen: payload?.length ?? 0 },
      payload,
    );
    const seg = this.tail;
    const total = HEADER_BYTES + (payload?.length ?? 0);
    if (batched) {
      if (!this.batch.length) this.batchPos = seg.size;
      this.batch.push(h);
      if (payload?.length) this.batch.push(payload);
      this.batchBytes += total;
    } else {
      const n = payload?.length
        ? writevSync(this.fd, [h, payload], seg.size)
        : writeSync(this.fd, h, 0, HEADER_BYTES, seg.size);
      if (n !== total) throw new Error(`journal: short write (${n}/${total})`);
    }
    seg.size += total;
    this.unsynced.add(this.fd);
    return lsn;
  }

  /**
   * Change records appended while corked (one socket read's worth of WRITEs) are written with
   * one writev at uncork instead of one write(2) each. The caller (the splitter) writes the
   * disk only after flushBatch(), so "journal first, disk second" holds for the whole batch.
   * Every other append, sync, rotation and close flushes the batch first.
   */
  private batch: Buffer[] = [];
  private batchPos = 0;
  private batchBytes = 0;
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
    if (!this.batch.length) return;
    const bufs = this.batch;
    const pos = this.batchPos;
    const total = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    let done = 0;
    // writev takes at most IOV_MAX (1024) buffers per call.
    for (let i = 0; i < bufs.length;) {
      const part = bufs.slice(i, i + 1024);
      const want = part.reduce((n, b) => n + b.length, 0);
      const n = writevSync(this.fd, part, pos + done);
      if (n !== want) throw new Error(`journal: short write (${done + n}/${total})`);
      done += n;
      i += part.length;
    }
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
      this.writeState();
    } else if (this.state.disks[index]!.size !== size || this.state.disks[index]!.path !== path) {
      this.state.disks[index] = { diskId, size, path };
      this.writeState();
    }
    const bm = new DirtyBitmap(join(this.dir, `dirty-${diskId}.bitmap`), size, this.bitmapBlock);
    this.bitmaps.set(index, bm);
    const intent = new DirtyBitmap(join(this.dir, `intent-${diskId}.bitmap`), size, INTENT_REGION);
    this.intents.set(index, intent);
    // A disk new to the journal: the replica does not have its current content yet (initial
    // sync), unless the caller knows it does. Full resync goes through the same scan path.
    if (this.pendingFullResync || (isNew && opts.initialSync)) {
      bm.markAll();
      bm.persistSync();
    } else if (this.recovery === 'host-crash' && !isNew) {
      // Only regions written since their last FLUSH can differ between image and journal.
      // No intent file for a known disk: nothing is known, resync all of it.
      if (!intent.existed) bm.markAll();
      for (const r of intent.setBlocks()) bm.mark(r * INTENT_REGION, INTENT_REGION);
      bm.persistSync();
      this.log(
        `journal: host crash: ${intent.setBlocks().length} region(s) of ${diskId} to resync`,
      );
    }
    if (bm.dirtyCount() > 0) {
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
    const b = this.intents.get(diskIndex);
    if (!b) throw new Error(`journal: disk ${diskIndex} not registered in this process`);
    return b;
  }

  bitmap(diskIndex: number): DirtyBitmap {
    const b = this.bitmaps.get(diskIndex);
    if (!b) throw new Error(`journal: disk ${diskIndex} not registered in this process`);
    return b;
  }

  /** Would a change of `bytes` payload fit? If not, journaling stops (overflow). */
  private admit(bytes: number): boolean {
    if (this.overflowed) return false;
    if (this.retainedBytes() + HEADER_BYTES + bytes > this.capacityBytes) {
      this.flushBatch();
      this.overflowed = true;
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
    this.flushBatch();
    return this.commit.request();
  }

  get syncCount(): number {
    return this.commit.syncs;
  }

  /** LSN of the last appended record. */
  get lastLsn(): number {
    return this.nextLsn - 1;
  }

  /** Downstream (batcher + spool) durably holds everything ≤ lsn: drop whole segments. */
  async release(lsn: number): Promise<void> {
    if (lsn <= this.state.releasedLsn) return;
    this.state.releasedLsn = lsn;
    // The released LSN is on disk before any segment goes: a restart must never find a gap
    // between it and the first segment (that would read as journal loss → full resync).
    // Async, so the NBD server sharing this event loop is not held by two fsyncs.
    await this.writeStateAsync();
    const upTo = this.state.releasedLsn;
    while (this.segments.length > 1 && this.segments[1]!.firstLsn <= upTo + 1) {
      const s = this.segments.shift()!;
      if (this.spares.length < MAX_SPARES && s.size >= this.segmentBytes) {
        const spare = join(this.dir, `spare-${this.spareSeq++}.hvj`);
        renameSync(s.path, spare);
        this.spares.push(spare);
      } else {
        // Off the event loop: unlinking a 64 MiB file takes milliseconds the NBD server
        // sharing this loop would wait for. Readers holding it open keep their fd valid.
        void fsp.unlink(s.path).catch((e: Error) => this.log(`journal: unlink: ${e.message}`));
      }
    }
    this.maybeResume();
  }

  private stateWrite: Promise<void> = Promise.resolve();
  private writeStateAsync(): Promise<void> {
    this.stateWrite = this.stateWrite.then(async () => {
      const p = join(this.dir, 'state.json');
      const tmp = `${p}.tmp`;
      const fh = await fsp.open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(JSON.stringify(this.state));
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, p);
      const d = await fsp.open(this.dir, 'r');
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    });
    return this.stateWrite;
  }

  get releasedLsn(): number {
    return this.state.releasedLsn;
  }

  addResumeGuard(g: () => boolean): void {
    this.resumeGuards.push(g);
  }

  /** Resume journaling once there is room again and no unjournaled write is in flight. */
  maybeResume(): boolean {
    if (!this.overflowed) return false;
    if (this.retainedBytes() >= this.resumeBelowBytes) return false;
    if (!this.resumeGuards.every((g) => g())) return false;
    this.overflowed = false;
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
    return this.segments;
  }

  /**
   * Keeps one spare segment ready: zero-filled in the background (async writes, off the write
   * path) when no released segment can be recycled.
   */
  private prepareSpare(): void {
    if (this.preparing || this.closed || this.spares.length > 0 || !this.preallocate) return;
    const tmp = join(this.dir, 'spare-prep.tmp');
    const target = join(this.dir, `spare-${this.spareSeq++}.hvj`);
    const size = this.segmentBytes;
    this.preparing = (async () => {
      const fh = await fsp.open(tmp, 'w', 0o600);
      try {
        const zero = Buffer.alloc(4 * 1024 * 1024);
        for (let pos = 0; pos < size && !this.closed; pos += zero.length) {
          await fh.write(zero, 0, Math.min(zero.length, size - pos), pos);
        }
        await fh.datasync();
      } finally {
        await fh.close();
      }
      if (this.closed) {
        await fsp.unlink(tmp).catch(() => undefined);
        return;
      }
      await fsp.rename(tmp, target);
      this.spares.push(target);
    })()
      .catch((e: Error) => this.log(`journal: could not prepare a spare segment: ${e.message}`))
      .finally(() => {
        this.preparing = undefined;
      });
  }

  /** Clean shutdown: everything synced, state marked closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.corked = 0;
    await this.sync();
    await this.stateWrite.catch(() => undefined);
    if (this.preparing) {
      this.closed = true; // stops the zero fill early
      await this.preparing;
      this.closed = false;
    }
    this.closed = true;
    closeSync(this.fd);
    for (const fd of this.toClose) closeSync(fd);
    for (const b of this.bitmaps.values()) b.close();
    for (const b of this.intents.values()) b.close();
    this.state.open = false;
    this.writeState();
  }
}
