import { closeSync, mkdirSync, openSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRecordHeader, HEADER, recoverPartition, type Segment } from './partitionRecovery';
import { fdatasyncAsync, fsyncDirectory, readFullyAt, writevAll } from './positionalIo';
import { RecordIndex } from './recordIndex';
import { TailCache } from './tailCache';

/**
 * One partition's append-only log: segment files named by the byte offset of their first record
 * (record layout and recovery: partitionRecovery.ts); the payload is the fully annotated AMQP
 * message as it is delivered to receivers. A record's offset is its byte position in the
 * concatenated segments, so it is stable across restarts.
 */
export interface RecordPosition {
  seq: number;
  offset: number;
  time: number;
}

interface Pending {
  header: Buffer;
  payload: Buffer;
  segment: Segment;
  position: number; // in segment
}

interface Waiter {
  count: number; // records appended before this waiter's records end
  resolve: () => void;
  reject: (e: Error) => void;
}

export interface PartitionLogOptions {
  segmentBytes?: number;
  cacheBytes?: number;
}

export class PartitionLog {
  private readonly segments: Segment[] = [];
  /** Where every record is, from the oldest one held on. */
  private index = new RecordIndex(0, [], [], []);
  private nextOffset = 0;
  private lastTime = 0;
  /** Records with seq < committedEnd are durable and visible to readers. */
  private committedEnd = 0;
  private pending: Pending[] = [];
  private waiters: Waiter[] = [];
  private flushing = false;
  private failed: Error | undefined;
  private closed = false;
  private readonly cache: TailCache;
  private readonly segmentBytes: number;
  private readonly listeners = new Set<() => void>();
  private readonly retired = new Map<NodeJS.Timeout, number>();

  private constructor(
    readonly dir: string,
    opts: PartitionLogOptions,
  ) {
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.cache = new TailCache(opts.cacheBytes ?? 32 * 1024 * 1024);
  }

  /** Opens (and recovers) the log in `dir`: a torn tail left by a crash is cut off. */
  static open(dir: string, opts: PartitionLogOptions = {}): PartitionLog {
    mkdirSync(dir, { recursive: true });
    const log = new PartitionLog(dir, opts);
    log.recover();
    return log;
  }

  private recover(): void {
    const r = recoverPartition(this.dir);
    this.segments.push(...r.segments);
    this.index = new RecordIndex(r.firstSeq, r.offsets, r.times, r.lengths);
    this.lastTime = r.lastTime;
    this.nextOffset = r.nextOffset;
    this.committedEnd = this.index.end;
    this.cache.startAt(this.committedEnd);
    if (this.segments.length === 0) this.newSegment();
  }

  private newSegment(): Segment {
    const base = this.nextOffset;
    const path = join(this.dir, `${String(base).padStart(20, '0')}.log`);
    const fd = openSync(path, 'w+'); // not O_APPEND: writes are positional
    const seg: Segment = { base, firstSeq: this.index.end, size: 0, fd, path };
    this.segments.push(seg);
    // The new file's directory entry must be durable too.
    fsyncDirectory(this.dir);
    return seg;
  }

  get beginSequenceNumber(): number {
    return this.index.firstSeq;
  }
  /** Sequence number the next committed record will get (= committed count incl. trimmed). */
  get endSequenceNumber(): number {
    return this.committedEnd;
  }
  get lastCommitted(): RecordPosition | undefined {
    if (this.committedEnd <= this.index.firstSeq) return undefined;
    const seq = this.committedEnd - 1;
    return { seq, offset: this.index.offsetOf(seq), time: this.index.timeOf(seq) };
  }

  onCommit(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Appends records atomically with respect to readers; `build` gets each record's position and
   * returns its payload. Resolves once every record is on disk (fdatasync), grouped with whatever
   * else arrived meanwhile.
   */
  append(
    count: number,
    build: (pos: RecordPosition, index: number) => Buffer,
  ): Promise<RecordPosition[]> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new Error('partition log closed'));
    const positions: RecordPosition[] = [];
    const now = Math.max(Date.now(), this.lastTime);
    this.lastTime = now;
    for (let i = 0; i < count; i++) {
      const seq = this.index.end;
      let seg = this.segments[this.segments.length - 1]!;
      const pos: RecordPosition = { seq, offset: this.nextOffset, time: now };
      const payload = build(pos, i);
      if (seg.size > 0 && seg.size + HEADER + payload.length > this.segmentBytes) {
        seg = this.newSegment();
      }
      const header = encodeRecordHeader(payload, seq, now);
      this.pending.push({ header, payload, segment: seg, position: seg.size });
      seg.size += HEADER + payload.length;
      this.nextOffset += HEADER + payload.length;
      this.index.push(pos.offset, now, payload.length);
      this.cache.add(seq, payload);
      positions.push(pos);
    }
    this.cache.evict(this.committedEnd);
    const target = this.index.end;
    const done = new Promise<void>((resolve, reject) =>
      this.waiters.push({ count: target, resolve, reject }),
    );
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    }
    return done.then(() => positions);
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0 && !this.failed) {
      const batch = this.pending;
      this.pending = [];
      const end = this.index.end;
      try {
        const bySegment = new Map<Segment, Pending[]>();
        for (const p of batch) {
          const list = bySegment.get(p.segment) ?? [];
          list.push(p);
          bySegment.set(p.segment, list);
        }
        for (const [seg, list] of bySegment) {
          const bufs: Buffer[] = [];
          for (const p of list) bufs.push(p.header, p.payload);
          await writevAll(seg.fd, bufs, list[0]!.position);
          await fdatasyncAsync(seg.fd);
        }
      } catch (e) {
        this.failed = e as Error;
        for (const w of this.waiters) w.reject(this.failed);
        this.waiters = [];
        break;
      }
      this.committedEnd = end;
      this.cache.evict(end);
      const ready = this.waiters.filter((w) => w.count <= end);
      this.waiters = this.waiters.filter((w) => w.count > end);
      for (const w of ready) w.resolve();
      for (const l of this.listeners) l();
    }
    this.flushing = false;
  }

  /** Index of the first record at or after a position; returns a sequence number (may equal end). */
  seqForOffset(offset: number, inclusive: boolean): number {
    return this.index.seqForOffset(offset, inclusive, this.committedEnd);
  }
  seqForTime(timeMs: number): number {
    return this.index.seqForTime(timeMs, this.committedEnd);
  }

  /** Committed payloads from `seq` on, at most `maxCount` and (beyond the first) `maxBytes`. */
  async read(seq: number, maxCount: number, maxBytes: number): Promise<Buffer[]> {
    seq = Math.max(seq, this.index.firstSeq);
    const out: Buffer[] = [];
    let bytes = 0;
    // Fast path: the cache holds the recent tail.
    while (seq >= this.cache.start && seq < this.committedEnd && out.length < maxCount) {
      const b = this.cache.get(seq)!;
      if (out.length > 0 && bytes + b.length > maxBytes) return out;
      out.push(b);
      bytes += b.length;
      seq++;
    }
    if (out.length > 0 || seq >= this.committedEnd) return out;
    // From disk: one pread of consecutive records within a segment.
    const seg = this.segmentFor(seq);
    const { count: n, bytes: span } = this.index.run(
      seq,
      this.committedEnd,
      seg.base + seg.size,
      maxCount,
      maxBytes,
    );
    const start = this.index.offsetOf(seq) - seg.base;
    const buf = Buffer.allocUnsafe(span);
    await readFullyAt(seg.fd, buf, start);
    let p = 0;
    for (let k = 0; k < n; k++) {
      const len = buf.readUInt32BE(p);
      out.push(buf.subarray(p + HEADER, p + HEADER + len));
      p += HEADER + len;
    }
    return out;
  }

  private segmentFor(seq: number): Segment {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segments[mid]!.firstSeq <= seq) lo = mid;
      else hi = mid - 1;
    }
    return this.segments[lo]!;
  }

  /** Drops whole segments (never the active one) whose newest record is older than `cutoffMs`. */
  trim(cutoffMs: number): void {
    while (this.segments.length > 1) {
      const seg = this.segments[0]!;
      const next = this.segments[1]!;
      const last = next.firstSeq - 1;
      if (last >= this.index.firstSeq && this.index.timeOf(last) >= cutoffMs) break;
      if (next.firstSeq > this.committedEnd) break;
      this.index.dropBefore(next.firstSeq);
      this.segments.shift();
      unlinkSync(seg.path);
      // A reader may still have a pread in flight on this fd; closing it now could let the
      // number be reused for another file under that read.
      const timer = setTimeout(() => {
        this.retired.delete(timer);
        closeSync(seg.fd);
      }, 10_000);
      timer.unref();
      this.retired.set(timer, seg.fd);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await new Promise((r) => setTimeout(r, 5));
    for (const s of this.segments) closeSync(s.fd);
    for (const [timer, fd] of this.retired) {
      clearTimeout(timer);
      closeSync(fd);
    }
    this.retired.clear();
    this.segments.length = 0;
    this.listeners.clear();
  }
}
