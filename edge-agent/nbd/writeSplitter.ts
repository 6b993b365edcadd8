import {
  closeSync,
  constants,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeSync,
  writevSync,
} from 'node:fs';
import { promisify } from 'node:util';
import type { BlockDevice } from './blockDevice';
import { SECTOR } from './protocol';
import { GroupCommit } from '../journal/groupCommit';
import type { MachineJournal } from '../journal/journal';
import { readPayload } from '../journal/journalReader';
import { REDO_RECORDS, type DiskInfo } from '../journal/journalTypes';
import { INTENT_LINGER_MS, IntentLog } from './intentLog';
import type { WriteGate } from './writeGate';
import { RecordType } from '../journal/records';

const fdatasyncP = promisify(fdatasync);
const ZERO_CHUNK = Buffer.alloc(1024 * 1024);

/** Size of an image file or a block device (fstat reports 0 for the latter; sysfs knows). */
export function deviceSize(fd: number): number {
  const st = fstatSync(fd);
  if (!st.isBlockDevice()) return st.size;
  const major = Math.floor(st.rdev / 256) & 0xfff;
  const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  const sectors = Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim());
  return sectors * 512;
}

/**
 * The write splitter: a BlockDevice that applies every change to the disk image AND appends it
 * to the machine journal, journal first. Order matters: the journal record is written (to the
 * page cache) before the image, so a killed process never leaves a change on the image that the
 * journal lacks (recovery re-applies the last record instead). Plain writes complete in the same
 * event-loop turn as the NBD request, so a bookmark always falls between acknowledged writes.
 *
 * When the journal is full (the sender is behind), changes are recorded in the disk's
 * persistent dirty bitmap instead — durably, before the write touches the image and before it
 * is acknowledged — and the scan path sends those blocks when journaling resumes.
 */
export class WriteSplitter implements BlockDevice {
  readonly size: number;
  private readonly fd: number;
  private readonly backingCommit: GroupCommit;
  /** Unjournaled writes between "bitmap durable" and "image written". */
  private overflowInFlight = 0;
  /** Image writes issued, and how many of them the running image sync was started after. */
  private imageWrites = 0;
  private imageWritesAtSync = 0;
  stats = { writes: 0, zeroes: 0, bytes: 0, overflowWrites: 0, flushes: 0, redone: 0 };

  private constructor(
    readonly journal: MachineJournal,
    readonly disk: DiskInfo,
    fd: number,
    intentLingerMs: number,
  ) {
    this.fd = fd;
    this.size = disk.size;
    this.backingCommit = new GroupCommit(
      () => {
        this.imageWritesAtSync = this.imageWrites;
        return fdatasyncP(this.fd);
      },
      () => this.imageWrites !== this.imageWritesAtSync,
    );
    this.intentLog = new IntentLog(journal.intent(disk.index), disk.size, intentLingerMs);
    journal.addResumeGuard(() => this.overflowInFlight === 0);
    this.unregisterSync = journal.onDiskSync(disk.index, () => this.backingCommit.request());
    this.redoAfterCrash();
    this.redoAfterHostCrash();
  }

  private readonly unregisterSync: () => void;
  private readonly intentLog: IntentLog;

  /** Opens the image (the splitter is its only writer while it runs) and registers it. */
  static open(
    journal: MachineJournal,
    diskId: string,
    path: string,
    opts: { initialSync?: boolean; intentLingerMs?: number } = {},
  ): WriteSplitter {
    // A block device is opened O_EXCL: Linux then refuses if it is mounted or held by another
    // exclusive opener, which enforces "the splitter is the only writer" for real disks.
    const isBlock = statSync(path).isBlockDevice();
    const fd = openSync(path, isBlock ? constants.O_RDWR | constants.O_EXCL : 'r+');
    const size = deviceSize(fd);
    if (size % SECTOR !== 0) {
      closeSync(fd);
      throw new Error(`${path}: size ${size} is not a multiple of ${SECTOR}`);
    }
    const disk = journal.registerDisk(diskId, size, path, opts);
    return new WriteSplitter(journal, disk, fd, opts.intentLingerMs ?? INTENT_LINGER_MS);
  }

  /**
   * After a process crash the last journaled change may be missing from the image (killed
   * between the two writes); every earlier one is on it. Re-applying it makes them equal.
   */
  private redoAfterCrash(): void {
    for (const r of this.journal.redo) {
      if (r.diskIndex !== this.disk.index) continue;
      if (r.type === RecordType.Write) this.writeImage(r.offset, readPayload(r));
      else if (r.type === RecordType.Zero) this.zeroImage(r.offset, r.length);
    }
  }

  /**
   * After a host crash the disk may lack changes a FLUSH acknowledged: a FLUSH syncs the journal,
   * the disk is synced lazily (rule 3). Every record of this disk after the last disk sync is
   * re-applied in order; re-applying a suffix is idempotent. Unflushed writes the journal lost
   * are in intent-log regions, resynced from the disk after this.
   */
  private redoAfterHostCrash(): void {
    const from = this.journal.hostCrashRedoFrom();
    if (from === undefined) return;
    const reader = this.journal.reader(from);
    let n = 0;
    try {
      for (let r = reader.next(); r; r = reader.next()) {
        if (r.diskIndex !== this.disk.index) continue;
        if (r.type === RecordType.Write) this.writeImage(r.offset, readPayload(r));
        else if (r.type === RecordType.Zero) this.zeroImage(r.offset, r.length);
        else continue;
        n++;
      }
    } finally {
      reader.close();
    }
    this.stats.redone = n;
  }

  /**
   * Corked (the NBD server corks around one socket read): journaled WRITEs append their records
   * to the journal's batch and queue their image writes; uncork writes the journal batch (one
   * writev), then the image. Anything that reads the image or waits for durability writes the
   * queue out first, and so does a queue of REDO_RECORDS (what crash recovery re-applies).
   */
  private corked = false;
  private queued: Array<{ offset: number; data: Buffer }> = [];

  cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.journal.cork();
  }

  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    try {
      this.journal.uncork();
    } finally {
      this.writeQueued();
    }
  }

  /** Journal batch first, then the queued image writes, in order. */
  private writeQueued(): void {
    // Always: a FUA write or a zeroing applied while corked has its record in the batch too.
    this.journal.flushBatch();
    if (!this.queued.length) return;
    const q = this.queued;
    this.queued = [];
    for (let i = 0; i < q.length;) {
      // Adjacent writes (sequential streams) go out in one pwritev.
      let j = i + 1;
      let end = q[i]!.offset + q[i]!.data.length;
      while (j < q.length && q[j]!.offset === end && j - i < 1024) {
        end += q[j]!.data.length;
        j++;
      }
      if (j === i + 1) this.writeImage(q[i]!.offset, q[i]!.data);
      else
        this.writeImageV(
          q[i]!.offset,
          q.slice(i, j).map((x) => x.data),
        );
      i = j;
    }
  }

  private writeImageV(offset: number, bufs: Buffer[]): void {
    const total = bufs.reduce((n, b) => n + b.length, 0);
    this.imageWrites++;
    const n = writevSync(this.fd, bufs, offset);
    if (n < total) this.writeImage(offset + n, Buffer.concat(bufs).subarray(n));
  }

  read(offset: number, length: number): Buffer {
    this.writeQueued();
    const b = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, b, done, length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    if (done < length) b.fill(0, done);
    return b;
  }

  private writeImage(offset: number, data: Buffer): void {
    this.imageWrites++;
    let done = 0;
    while (done < data.length)
      done += writeSync(this.fd, data, done, data.length - done, offset + done);
  }

  /** Zeroes a range without allocating: only chunks that are not already zero are written. */
  private zeroImage(offset: number, length: number): void {
    this.writeQueued();
    const buf = Buffer.allocUnsafe(ZERO_CHUNK.length);
    for (let pos = offset; pos < offset + length;) {
      const n = Math.min(ZERO_CHUNK.length, offset + length - pos);
      const got = readSync(this.fd, buf, 0, n, pos);
      if (got < n || !buf.subarray(0, n).equals(ZERO_CHUNK.subarray(0, n))) {
        this.writeImage(pos, ZERO_CHUNK.subarray(0, n));
      }
      pos += n;
    }
  }

  /** Widens an unaligned change to whole sectors (the journal and page blobs work in sectors). */
  private widen(
    offset: number,
    data: Buffer | undefined,
    length: number,
  ): { offset: number; data: Buffer } {
    const start = Math.floor(offset / SECTOR) * SECTOR;
    const end = Math.min(this.size, Math.ceil((offset + length) / SECTOR) * SECTOR);
    const buf = this.read(start, end - start);
    if (data) data.copy(buf, offset - start);
    else buf.fill(0, offset - start, offset - start + length);
    return { offset: start, data: buf };
  }

  private aligned(offset: number, length: number): boolean {
    return offset % SECTOR === 0 && length % SECTOR === 0;
  }

  /** Closed by a timed group cut: new changes wait, in order, until it opens. */
  gate?: WriteGate;

  write(offset: number, data: Buffer, fua: boolean): void | Promise<void> {
    if (data.length === 0) return;
    const held = this.gate?.waiting;
    if (held) return held.then(() => this.write(offset, data, fua));
    return this.intentLog.guard(offset, data.length, () => this.applyWrite(offset, data, fua));
  }

  writeZeroes(offset: number, length: number, fua: boolean): void | Promise<void> {
    if (length === 0) return;
    const held = this.gate?.waiting;
    if (held) return held.then(() => this.writeZeroes(offset, length, fua));
    return this.intentLog.guard(offset, length, () => this.applyZeroes(offset, length, fua));
  }

  /** Journal, then image. Unaligned writes are widened here, at apply time, never earlier. */
  private applyWrite(offset: number, data: Buffer, fua: boolean): void | Promise<void> {
    if (!this.aligned(offset, data.length))
      ({ offset, data } = this.widen(offset, data, data.length));
    this.stats.writes++;
    this.stats.bytes += data.length;
    const lsn = this.journal.appendWrite(this.disk.index, offset, data);
    if (lsn === undefined)
      return this.unjournaled(offset, data.length, () => this.writeImage(offset, data), fua);
    if (this.corked && !fua) {
      this.queued.push({ offset, data });
      if (this.queued.length >= REDO_RECORDS) this.writeQueued();
      return;
    }
    this.writeQueued();
    this.writeImage(offset, data);
    if (fua) return this.durable();
  }

  private applyZeroes(offset: number, length: number, fua: boolean): void | Promise<void> {
    if (!this.aligned(offset, length)) {
      const w = this.widen(offset, undefined, length);
      return this.applyWrite(w.offset, w.data, fua);
    }
    this.stats.zeroes++;
    const lsn = this.journal.appendZero(this.disk.index, offset, length);
    if (lsn === undefined)
      return this.unjournaled(offset, length, () => this.zeroImage(offset, length), fua);
    this.zeroImage(offset, length);
    if (fua) return this.durable();
  }

  /**
   * TRIM is applied as zeroes: a discarded range must read back the same on the source and on
   * the replica, and "zero" is the one answer both can give (page blob clear, no bytes sent).
   */
  trim(offset: number, length: number, fua: boolean): void | Promise<void> {
    return this.writeZeroes(offset, length, fua);
  }

  private async unjournaled(
    offset: number,
    length: number,
    apply: () => void,
    fua: boolean,
  ): Promise<void> {
    this.overflowInFlight++;
    try {
      this.stats.overflowWrites++;
      const bm = this.journal.bitmap(this.disk.index);
      bm.mark(offset, length);
      this.writeQueued(); // journaled records first: the sync below must cover them
      // The bit is on disk before the image changes and before the ack; so are the journaled
      // records before the overflow (a host-crash redo must not replay them over this write).
      await Promise.all([bm.persist(), this.journal.beforeUnjournaled()]);
      apply();
      this.unjournaledWrites++;
    } finally {
      this.overflowInFlight--;
    }
    if (fua) await this.durable();
    this.journal.maybeResume();
  }

  /** Unjournaled (overflow) writes applied, and how many of them an image sync covers. */
  private unjournaledWrites = 0;
  private unjournaledDurable = 0;

  /**
   * FLUSH and FUA: the journal is fdatasync'ed (group commit); it is the write-ahead log, the
   * durable copy of every journaled change until a disk sync covers it (the journal keeps its
   * segments until then, and a host crash redoes them onto the disk before it is served). The
   * image is synced too only when it holds unjournaled (overflow) writes: the journal lacks them.
   */
  private durable(): Promise<void> {
    this.writeQueued();
    const n = this.unjournaledWrites;
    if (n === this.unjournaledDurable) return this.journal.sync();
    const image = this.backingCommit.request().then(() => {
      this.unjournaledDurable = Math.max(this.unjournaledDurable, n);
    });
    return Promise.all([this.journal.sync(), image]).then(() => undefined);
  }

  flush(): Promise<void> {
    this.stats.flushes++;
    const startSeq = this.intentLog.lastSeq;
    return this.durable().then(() => this.intentLog.afterFlush(startSeq));
  }

  /** Closes the image, synced: the journal no longer covers it once unregistered. */
  close(): void {
    this.writeQueued();
    this.unregisterSync();
    fdatasyncSync(this.fd);
    closeSync(this.fd);
  }
}
