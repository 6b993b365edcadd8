import { closeSync, constants, fdatasync, fsyncSync, openSync, write } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AheadMark, AheadMarks } from './aheadMarks';
import { GroupCommit } from './groupCommit';
import { SegmentSpares } from './segmentSpares';
import { NO_PINS, type PayloadPins, type Segment } from './journalTypes';
import { HeldTail, writeAllAt } from './heldTail';
import { HEADER_BYTES, payloadFilePath } from './records';

const fdatasyncP = promisify(fdatasync);
const writeP = promisify(write);

export interface SegmentLogOptions {
  dir: string;
  segmentBytes: number;
  preallocate: boolean;
  /** Large aligned payloads may be written O_DIRECT (the directory's filesystem takes it). */
  direct: boolean;
  /** How a payload is written O_DIRECT (default: `write(2)` in the thread pool). */
  writeDirect?: (fd: number, payload: Buffer, pos: number) => Promise<void>;
  /** Where image writes issued ahead of their records are marked (see AheadMarks). */
  marks?: AheadMarks;
  /** Holds on reused payload memory (see AlignedSlabs); default: none is reused. */
  pins?: PayloadPins;
  log: (msg: string) => void;
}

/**
 * The journal's files: numbered segments appended at the tail, durable through group-commit
 * fdatasync, recycled as spares once released. Knows bytes and files, not records: the
 * journal encodes records and decides what is released.
 */
export class SegmentLog {
  private segments: Segment[];
  private fd = -1;
  /** fds written since the last sync (the current segment and rotated ones). */
  private unsynced = new Set<number>();
  /** fds under an fdatasync right now. */
  private syncing = new Set<number>();
  private toClose = new Set<number>();
  private readonly commit: GroupCommit;
  private readonly spares: SegmentSpares;
  /**
   * Records appended while the journal is corked (one socket read's worth of WRITEs) are
   * written with one writev at flush instead of one write(2) each.
   */
  private batch: Buffer[] = [];
  private batchPos = 0;
  private batchBytes = 0;
  private batchLastLsn = 0;
  /** The last LSN appended (written, batched or held). */
  private appendedLsn: number;
  /** Records behind a payload being written O_DIRECT (see HeldTail). */
  private readonly held: HeldTail;
  /** Called when held records reach the file. */
  onHeldWritten: () => void = () => undefined;
  /** The O_DIRECT descriptor of each segment fd that had one. */
  private readonly directFds = new Map<number, number>();
  readonly pins: PayloadPins;

  constructor(
    private readonly opts: SegmentLogOptions,
    /** Segments found by the recovery scan, oldest first. */
    segments: Segment[],
    /** LSN of the next record: names a segment created now. */
    nextLsn: number,
  ) {
    this.segments = segments;
    this.pins = opts.pins ?? NO_PINS;
    this.appendedLsn = nextLsn - 1;
    this.held = new HeldTail(nextLsn - 1, (fd) => {
      this.unsynced.add(fd);
      this.onHeldWritten();
    });
    this.spares = new SegmentSpares(opts);
    // A sync started after the last append covers every record: later callers share it.
    this.commit = new GroupCommit(
      () => this.syncWritten(),
      () => this.unsynced.size > 0 || this.batch.length > 0,
    );
    const last = this.segments[this.segments.length - 1];
    if (last && last.size < opts.segmentBytes) this.fd = openSync(last.path, 'r+');
    else this.rotate(nextLsn);
  }

  private async syncWritten(): Promise<void> {
    const fds = [...this.unsynced];
    this.unsynced.clear();
    for (const fd of fds) this.syncing.add(fd);
    try {
      await Promise.all(fds.map((fd) => fdatasyncP(fd)));
    } finally {
      for (const fd of fds) this.syncing.delete(fd);
      // A rotated-away segment is closed once no sync needs it (never under a running
      // fdatasync: the fd number could be reused by another file).
      this.closeRotated();
    }
  }

  /** Rotated-away segments (and their payload files) no sync and no held record needs. */
  private closeRotated(): void {
    const busy = (fd: number | undefined) =>
      fd !== undefined && (this.unsynced.has(fd) || this.syncing.has(fd) || this.held.uses(fd));
    for (const fd of [...this.toClose]) {
      if (busy(fd) || busy(this.directFds.get(fd))) continue;
      this.toClose.delete(fd);
      this.closeFd(fd);
    }
  }

  private closeFd(fd: number): void {
    const direct = this.directFds.get(fd);
    if (direct !== undefined) closeSync(direct);
    this.directFds.delete(fd);
    closeSync(fd);
  }

  private rotate(firstLsn: number): void {
    if (this.fd >= 0) {
      this.toClose.add(this.fd);
      this.closeRotated();
    }
    const path = join(this.opts.dir, `seg-${String(firstLsn).padStart(16, '0')}.hvj`);
    this.fd = this.spares.take(path) ? openSync(path, 'r+') : openSync(path, 'w+', 0o600);
    this.segments.push({ firstLsn, path, size: 0 });
    // The new file's directory entry must survive a crash before records in it are "durable".
    const dfd = openSync(this.opts.dir, 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  }

  private get tail(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  /**
   * Appends one encoded record (header + optional payload). `batched` records are held for
   * one writev at flushBatch(); anything else flushes the batch first, so file order is
   * record order. A full tail segment rotates to a new one named after `lsn`.
   */
  append(lsn: number, header: Buffer, payload: Buffer | undefined, batched: boolean): void {
    if (!batched) this.flushBatch();
    this.rotateIfFull(lsn);
    const seg = this.tail;
    const total = HEADER_BYTES + (payload?.length ?? 0);
    const bufs = payload?.length ? [header, payload] : [header];
    this.appendedLsn = lsn;
    if (batched) {
      if (!this.batch.length) this.batchPos = seg.size;
      this.batch.push(...bufs);
      this.batchBytes += total;
      this.batchLastLsn = lsn;
    } else this.put(lsn, seg.size, bufs, total);
    seg.size += total;
    this.unsynced.add(this.fd);
  }

  /**
   * Appends a write whose payload (aligned memory, a multiple of PAYLOAD_ALIGN bytes) goes to
   * the segment's payload file, O_DIRECT, in the thread pool; its header (FLAG_PAYLOAD_FILE) is
   * written to the segment once that is done, and records appended meanwhile wait in order
   * (HeldTail). The payload file shares no inode with the buffered record log: on one inode,
   * ext4 made each buffered header write wait behind the O_DIRECT writes in flight.
   */
  appendDirect(
    lsn: number,
    header: Buffer,
    payload: Buffer,
  ): { segmentPath: string; pos: number; payloadPos: number; end: number } {
    this.flushBatch();
    this.rotateIfFull(lsn);
    const seg = this.tail;
    const pos = seg.size;
    const payloadPos = seg.payloadBytes ?? 0;
    let direct = this.directFds.get(this.fd);
    if (direct === undefined) {
      const flags = constants.O_RDWR | constants.O_CREAT | constants.O_DIRECT;
      direct = openSync(payloadFilePath(seg.path), flags, 0o600);
      this.directFds.set(this.fd, direct);
    }
    const written = this.opts.writeDirect
      ? this.opts.writeDirect(direct, payload, payloadPos)
      : writeP(direct, payload, 0, payload.length, payloadPos).then(() => undefined);
    const release = this.pins.pin(payload);
    written.then(release, release);
    this.appendedLsn = lsn;
    this.held.direct(lsn, this.fd, pos, header, direct, written);
    seg.size = pos + HEADER_BYTES;
    seg.payloadBytes = payloadPos + payload.length;
    this.unsynced.add(this.fd);
    this.unsynced.add(direct);
    return { segmentPath: seg.path, pos, payloadPos, end: seg.size };
  }

  /** Large aligned payloads can go O_DIRECT (see appendDirect). */
  get direct(): boolean {
    return this.opts.direct;
  }

  private rotateIfFull(lsn: number): void {
    if (bytesOf(this.tail) < this.opts.segmentBytes) return;
    this.flushBatch();
    this.rotate(lsn);
  }

  /** Writes records now, or behind a held one. */
  private put(lastLsn: number, pos: number, bufs: Buffer[], total: number): void {
    if (this.held.busy) {
      this.held.bytes(lastLsn, this.fd, pos, bufs);
      return;
    }
    writeAllAt(this.fd, bufs, pos, total);
    this.held.writtenLsn = lastLsn;
  }

  /** Writes the batched records (if any). */
  flushBatch(): void {
    if (!this.batch.length) return;
    const bufs = this.batch;
    this.batch = [];
    this.put(this.batchLastLsn, this.batchPos, bufs, this.batchBytes);
    this.batchBytes = 0;
  }

  /** Records are held back, behind a payload being written O_DIRECT. */
  get holding(): boolean {
    return this.held.busy;
  }

  /** The last LSN whose record is in the file (every one before it too). */
  get writtenLsn(): number {
    return this.held.writtenLsn;
  }

  /** Settles once record `lsn` is in the file; undefined when it is already. */
  whenWritten(lsn: number): Promise<void> | undefined {
    return this.held.whenWritten(lsn);
  }

  /** May the image write of a record not in the file yet go ahead of it (see AheadMarks)? */
  ahead(m: AheadMark): boolean {
    return this.opts.marks?.mark(m, this.writtenLsn) ?? false;
  }

  /** Resolves when everything appended so far is on stable storage. */
  sync(): Promise<void> {
    this.flushBatch();
    const held = this.held.whenWritten(this.appendedLsn);
    return held ? held.then(() => this.commit.request()) : this.commit.request();
  }

  get syncCount(): number {
    return this.commit.syncs;
  }

  /** Bytes held in segments (records not yet released downstream). */
  retainedBytes(): number {
    let n = 0;
    for (const s of this.segments) n += bytesOf(s);
    return n;
  }

  list(): readonly Segment[] {
    return this.segments;
  }

  /** Bytes releaseThrough(upTo) would drop. */
  droppableBytes(upTo: number): number {
    let n = 0;
    for (let i = 0; i + 1 < this.segments.length; i++) {
      if (this.segments[i + 1]!.firstLsn > upTo + 1) break;
      n += bytesOf(this.segments[i]!);
    }
    return n;
  }

  /** Drops every whole segment whose records all have lsn ≤ upTo (kept as spares or deleted). */
  releaseThrough(upTo: number): void {
    while (this.segments.length > 1 && this.segments[1]!.firstLsn <= upTo + 1) {
      const s = this.segments.shift()!;
      if (!this.spares.keep(s.path, s.size)) {
        // Off the event loop: unlinking a 64 MiB file takes milliseconds the NBD server
        // sharing this loop would wait for. Readers holding it open keep their fd valid.
        void fsp.unlink(s.path).catch((e: Error) => this.opts.log(`journal: unlink: ${e.message}`));
      }
      if (s.payloadBytes !== undefined) {
        void fsp.unlink(payloadFilePath(s.path)).catch(() => undefined);
      }
    }
  }

  /** Closes the files (the caller synced first); a spare being zero-filled stops early. */
  async close(): Promise<void> {
    await this.spares.close();
    await this.held.whenWritten(this.appendedLsn);
    this.closeFd(this.fd);
    for (const fd of this.toClose) this.closeFd(fd);
    this.opts.marks?.close();
  }
}

/** A segment's bytes on disk: its record log and its payload file. */
function bytesOf(s: Segment): number {
  return s.size + (s.payloadBytes ?? 0);
}
