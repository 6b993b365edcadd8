import { closeSync, mkdirSync, openSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRecordHeader, HEADER, recoverPartition, type Segment } from './partitionRecovery';
import { fdatasyncAsync, fsyncDirectory, readFullyAt, writevAll } from './positionalIo';
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
  /** Index of every record from `firstSeq` on: offsets and enqueued times. */
  private offsets: number[] = [];
  private times: number[] = [];
  private lengths: number[] = [];
  private firstSeq = 0;
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
    this.offsets = r.offsets;
    this.times = r.times;
    this.lengths = r.lengths;
    this.firstSeq = r.firstSeq;
    this.lastTime = r.lastTime;
    this.nextOffset = r.nextOffset;
    this.committedEnd = this.firstSeq + this.offsets.length;
    this.cache.startAt(this.committedEnd);
    if (this.segments.length === 0) this.newSegment();
  }

  private newSegment(): Segment {
    const base = this.nextOffset;
    const path = join(this.dir, `${String(base).padStart(20, '0')}.log`);
    const fd = openSync(path, 'w+'); // not O_APPEND: writes are positional
    const seg: Segment = { base, firstSeq: this.firstSeq + this.offsets.length, size: 0, fd, path };
    this.segments.push(seg);
    // The new file's directory entry must be durable too.
    fsyncDirectory(this.dir);
    return seg;
  }

  get beginSequenceNumber(): number {
    return this.firstSeq;
  }
  /** Sequence number the next committed record will get (= committed count incl. trimmed). */
  get endSequenceNumber(): number {
    return this.committedEnd;
  }
  get lastCommitted(): RecordPosition | undefined {
    if (this.committedEnd <= this.firstSeq) return undefined;
    const i = this.committedEnd - 1 - this.firstSeq;
    return { seq: this.committedEnd - 1, offset: this.offsets[i]!, time: this.times[i]! };
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
      const seq = this.firstSeq + this.offsets.length;
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
      this.offsets.push(pos.offset);
      this.times.push(now);
      this.lengths.push(payload.length);
      this.cache.add(seq, payload);
      positions.push(pos);
    }
    this.cache.evict(this.committedEnd);
    const target = this.firstSeq + this.offsets.length;
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
      const end = this.firstSeq + this.offsets.length;
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
    const i = lowerBound(this.offsets, this.committedEnd - this.firstSeq, (o) =>
      inclusive ? o < offset : o <= offset,
    );
    return this.firstSeq + i;
  }
  seqForTime(timeMs: number): number {
    const i = lowerBound(this.times, this.committedEnd - this.firstSeq, (t) => t <= timeMs);
    return this.firstSeq + i;
  }

  /** Committed payloads from `seq` on, at most `maxCount` and (beyond the first) `maxBytes`. */
  async read(seq: number, maxCount: number, maxBytes: number): Promise<Buffer[]> {
    seq = Math.max(seq, this.firstSeq);
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
    const i0 = seq - this.firstSeq;
    let n = 0;
    let span = 0;
    const segEnd = seg.base + seg.size;
    while (seq + n < this.committedEnd && n < maxCount) {
      const i = i0 + n;
      if (this.offsets[i]! >= segEnd) break;
      const len = HEADER + this.lengths[i]!;
      if (n > 0 && span + len > maxBytes) break;
      span += len;
      n++;
    }
    const start = this.offsets[i0]! - seg.base;
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
      const lastIdx = next.firstSeq - 1 - this.firstSeq;
      if (lastIdx >= 0 && this.times[lastIdx]! >= cutoffMs) break;
      if (next.firstSeq > this.committedEnd) break;
      const drop = next.firstSeq - this.firstSeq;
      this.offsets = this.offsets.slice(drop);
      this.times = this.times.slice(drop);
      this.lengths = this.lengths.slice(drop);
      this.firstSeq = next.firstSeq;
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

function lowerBound(arr: number[], n: number, before: (v: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(arr[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
