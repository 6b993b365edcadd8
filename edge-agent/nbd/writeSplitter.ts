import type { BlockDevice } from './blockDevice';
import { SECTOR } from './protocol';
import { DiskImage } from './diskImage';
import type { MachineJournal } from '../journal/journal';
import type { DiskInfo } from '../journal/journalTypes';
import { ImageWriteQueue } from './imageWriteQueue';
import { INTENT_LINGER_MS, IntentLog } from './intentLog';
import type { WriteGate } from './writeGate';
import { redoOntoImage } from './imageRedo';

export { deviceSize } from './diskImage';

/**
 * The write splitter: a BlockDevice that applies every change to the disk image AND appends it
 * to the machine journal, journal first. Order matters: the journal record is written (to the
 * page cache) before the image, so a killed process never leaves a change on the image that the
 * journal lacks (recovery re-applies the last records instead). Small writes reach the image in
 * the event-loop turn of the NBD request, large ones in the thread pool (ImageWriteQueue); a
 * bookmark falls between records, so a point holds the writes acknowledged before it and maybe
 * some in flight: a state the disk could have had at a crash.
 *
 * When the journal is full (the sender is behind), changes are recorded in the disk's
 * persistent dirty bitmap instead — durably, before the write touches the image and before it
 * is acknowledged — and the scan path sends those blocks when journaling resumes.
 */
export class WriteSplitter implements BlockDevice {
  readonly size: number;
  private readonly image: DiskImage;
  /** Unjournaled writes between "bitmap durable" and "image written". */
  private overflowInFlight = 0;
  stats = { writes: 0, zeroes: 0, bytes: 0, overflowWrites: 0, flushes: 0, redone: 0 };

  private constructor(
    readonly journal: MachineJournal,
    readonly disk: DiskInfo,
    image: DiskImage,
    intentLingerMs: number,
  ) {
    this.image = image;
    this.size = disk.size;
    this.writes = new ImageWriteQueue(image, journal.tail, disk.index);
    this.intentLog = new IntentLog(journal.intent(disk.index), disk.size, intentLingerMs);
    journal.addResumeGuard(() => this.overflowInFlight === 0);
    // A disk sync starts once the image writes in flight are done (DiskSyncs settles first).
    this.unregisterSync = journal.releases.onDiskSync(
      disk.index,
      () => this.image.sync(),
      () => this.writes.settled(),
    );
    this.stats.redone = redoOntoImage(journal, disk.index, image);
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
    const image = DiskImage.open(path);
    const disk = journal.registerDisk(diskId, image.size, path, opts);
    return new WriteSplitter(journal, disk, image, opts.intentLingerMs ?? INTENT_LINGER_MS);
  }

  /**
   * Corked (the NBD server corks around one socket read): journaled WRITEs append their records
   * to the journal's batch and queue their image writes; uncork writes the journal batch (one
   * writev), then the image (see ImageWriteQueue). Anything that reads the image or waits for
   * durability flushes the queue first.
   */
  private corked = false;
  private readonly writes: ImageWriteQueue;

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
      this.writes.flush();
    }
  }

  /** A read sees every write appended before it, in flight ones included. */
  read(offset: number, length: number): Buffer | Promise<Buffer> {
    const wait = this.writes.settleRange(offset, length);
    if (wait) return wait.then(() => this.image.read(offset, length));
    return this.image.read(offset, length);
  }

  private writeImage(offset: number, data: Buffer): void {
    this.image.write(offset, data);
  }

  private zeroImage(offset: number, length: number): void {
    this.writes.flush();
    this.image.zero(offset, length);
  }

  /**
   * Widens an unaligned change to whole sectors (the journal and page blobs work in sectors),
   * reading the rest of them once the writes in flight there are done.
   */
  private widened(
    offset: number,
    data: Buffer | undefined,
    length: number,
    fua: boolean,
  ): void | Promise<void> {
    const start = Math.floor(offset / SECTOR) * SECTOR;
    const end = Math.min(this.size, Math.ceil((offset + length) / SECTOR) * SECTOR);
    // Read, merged and journaled in one turn: nothing may land in those sectors in between.
    const wait = this.writes.settleRange(start, end - start) ?? this.writes.redoBound();
    if (wait) return wait.then(() => this.widened(offset, data, length, fua));
    const buf = this.image.read(start, end - start);
    if (data) data.copy(buf, offset - start);
    else buf.fill(0, offset - start, offset - start + length);
    return this.applyWrite(start, buf, fua);
  }

  private aligned(offset: number, length: number): boolean {
    return offset % SECTOR === 0 && length % SECTOR === 0;
  }

  /** Memory a large payload is best received in: the journal can write it O_DIRECT. */
  payloadBuffer(length: number): Buffer | undefined {
    return this.journal.payloadBuffer(length);
  }

  /** Closed by a timed group cut: new changes wait, in order, until it opens. */
  gate?: WriteGate;

  write(offset: number, data: Buffer, fua: boolean): void | Promise<void> {
    // The hold `payloadBuffer` gave the receiver of `data` lasts until this write is over (each
    // write in flight from it holds it too); then its memory may be reused.
    const release = this.journal.adoptPayload(data);
    try {
      const r = this.gatedWrite(offset, data, fua);
      if (!r) return release();
      r.then(release, release); // the caller gets `r` itself: its answer is not delayed
      return r;
    } catch (e) {
      release();
      throw e;
    }
  }

  private gatedWrite(offset: number, data: Buffer, fua: boolean): void | Promise<void> {
    if (data.length === 0) return;
    const held = this.gate?.waiting;
    if (held) return held.then(() => this.gatedWrite(offset, data, fua));
    return this.intentLog.guard(offset, data.length, () => this.applyWrite(offset, data, fua));
  }

  writeZeroes(offset: number, length: number, fua: boolean): void | Promise<void> {
    if (length === 0) return;
    const held = this.gate?.waiting;
    if (held) return held.then(() => this.writeZeroes(offset, length, fua));
    return this.intentLog.guard(offset, length, () => this.applyZeroes(offset, length, fua));
  }

  /**
   * Journal, then image: the record is appended (written with the socket read's batch), then
   * the image is written, off the event loop if the write is large (the request is then
   * answered once it is done and its record is in the file; FUA: and the journal synced).
   * Unaligned writes are widened here.
   */
  private applyWrite(offset: number, data: Buffer, fua: boolean): void | Promise<void> {
    if (!this.aligned(offset, data.length)) return this.widened(offset, data, data.length, fua);
    const held = this.writes.redoBound();
    if (held) return held.then(() => this.applyWrite(offset, data, fua));
    this.stats.writes++;
    this.stats.bytes += data.length;
    const lsn = this.journal.appendWrite(this.disk.index, offset, data);
    if (lsn === undefined)
      return this.unjournaled(offset, data.length, () => this.writeImage(offset, data), fua);
    const done = this.writes.write(offset, data, this.corked && !fua, lsn);
    if (!fua) return done;
    return done ? Promise.all([done, this.durable()]).then(() => undefined) : this.durable();
  }

  /**
   * Zeroing runs on the event loop, once the writes in flight in its range are done and the
   * journal holds no record back (its own must be in the file before the image changes).
   */
  private applyZeroes(offset: number, length: number, fua: boolean): void | Promise<void> {
    if (!this.aligned(offset, length)) return this.widened(offset, undefined, length, fua);
    const held =
      this.writes.settleRange(offset, length) ??
      this.writes.redoBound() ??
      this.journal.tail.whenWritten(this.journal.lastLsn);
    if (held) return held.then(() => this.applyZeroes(offset, length, fua));
    this.stats.zeroes++;
    const lsn = this.journal.appendZero(this.disk.index, offset, length);
    if (lsn === undefined)
      return this.unjournaled(offset, length, () => this.zeroImage(offset, length), fua);
    this.writes.counted();
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
      this.writes.flush(); // journaled records first: the sync below must cover them
      // The bit is on disk before the image changes and before the ack; so are the journaled
      // records before the overflow (a host-crash redo must not replay them over this write).
      await Promise.all([bm.persist(), this.journal.releases.beforeUnjournaled()]);
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
    this.writes.flush();
    const n = this.unjournaledWrites;
    if (n === this.unjournaledDurable) return this.journal.sync();
    const image = this.image.sync().then(() => {
      this.unjournaledDurable = Math.max(this.unjournaledDurable, n);
    });
    return Promise.all([this.journal.sync(), image]).then(() => undefined);
  }

  flush(): Promise<void> {
    this.stats.flushes++;
    const startSeq = this.intentLog.lastSeq;
    return this.durable().then(() => this.intentLog.afterFlush(startSeq));
  }

  /** Closes the image once its writes are done, synced: the journal no longer covers it. */
  async close(): Promise<void> {
    await this.writes.settled();
    this.unregisterSync();
    this.image.close();
  }
}
