import { closeSync, openSync, readSync } from 'node:fs';
import type { JournalRecord, MemoryRecord, Segment } from './journalTypes';
import {
  decodeHeader,
  FLAG_PAYLOAD_FILE,
  HEADER_BYTES,
  payloadFilePath,
  recordEnd,
} from './records';

/** What a reader needs of the journal: where it ends and its segments (the journal passes itself). */
export interface JournalView {
  readonly lastLsn: number;
  segmentList(): readonly Segment[];
}

export const READ_AHEAD = 4 * 1024 * 1024;
/** Payloads up to this size come with the record (copied from the read-ahead buffer). */
const EAGER_PAYLOAD = 64 * 1024;

/**
 * Sequential reader with a read-ahead buffer (one read(2) per 4 MiB, not per record). Small
 * payloads come with the record; large ones too when the read-ahead already holds them, else
 * they are read lazily so coalescing can skip overwritten data. Each refill takes another
 * buffer (from `alloc`: the drain thread hands back ones no record refers to any more), so a
 * record's data is a view into it, never a copy. Only bytes below a segment's logical end are
 * trusted: the tail is being appended to, and recycled segments hold older records past their end.
 */
export class JournalReader {
  private seg?: Segment;
  private fd = -1;
  private pos = 0;
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  private bufLen = 0;

  constructor(
    private readonly journal: JournalView,
    public nextLsn: number,
    /** Read-ahead buffers, at least `size` bytes (by default a new one each time). */
    private readonly alloc: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
    /** Records the writer still had in memory: taken from there, not read from the file. */
    private readonly memory?: (lsn: number) => MemoryRecord | undefined,
  ) {}

  /** The buffer refills read into now: records still to be read may lie in it. */
  get current(): Buffer {
    return this.buf;
  }

  private openSegment(seg: Segment): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.seg = seg;
    this.fd = openSync(seg.path, 'r');
    this.pos = 0;
    this.payloadFilePos = 0;
    this.bufLen = 0;
  }

  /** Where the next FLAG_PAYLOAD_FILE record's payload starts in the segment's payload file. */
  private payloadFilePos = 0;

  /** n bytes at pos from the buffer (refilled as needed), or undefined past the logical end. */
  private bytes(pos: number, n: number): Buffer | undefined {
    if (pos >= this.bufStart && pos + n <= this.bufStart + this.bufLen) {
      return this.buf.subarray(pos - this.bufStart, pos - this.bufStart + n);
    }
    const limit = this.seg!.size - pos;
    if (limit < n) return undefined;
    // Another buffer: records handed out earlier keep views into the old one.
    const want = Math.max(n, Math.min(READ_AHEAD, limit));
    this.buf = this.alloc(want);
    let got = 0;
    while (got < want) {
      const k = readSync(this.fd, this.buf, got, want - got, pos + got);
      if (k === 0) break;
      got += k;
    }
    this.bufStart = pos;
    this.bufLen = got;
    return got >= n ? this.buf.subarray(0, n) : undefined;
  }

  /** n bytes at pos if the read-ahead holds them already (no read). */
  private buffered(pos: number, n: number): Buffer | undefined {
    if (pos < this.bufStart || pos + n > this.bufStart + this.bufLen) return undefined;
    return this.buf.subarray(pos - this.bufStart, pos - this.bufStart + n);
  }

  /** The next record, or undefined at the current end of the journal. */
  next(): JournalRecord | undefined {
    if (this.nextLsn > this.journal.lastLsn) return undefined;
    if (!this.seg) {
      const segs = this.journal.segmentList();
      let first: Segment | undefined;
      for (const sg of segs) if (sg.firstLsn <= this.nextLsn) first = sg;
      if (!first) return undefined;
      this.openSegment(first);
      // Skip to nextLsn.
      for (;;) {
        const hb = this.bytes(this.pos, HEADER_BYTES);
        const h = hb && decodeHeader(hb);
        if (!h || h.lsn >= this.nextLsn) break;
        this.pos = recordEnd(this.pos, h);
        if (h.flags & FLAG_PAYLOAD_FILE) this.payloadFilePos += h.length;
      }
    }
    for (;;) {
      const m = this.memory?.(this.nextLsn);
      if (m && m.segmentPath === this.seg!.path && m.pos === this.pos) {
        const { pos: _pos, end, data, ...fields } = m;
        this.pos = end;
        if (m.flags & FLAG_PAYLOAD_FILE) this.payloadFilePos += m.length;
        this.nextLsn++;
        return { ...fields, data: Buffer.from(data.buffer, data.byteOffset, data.length) };
      }
      const hb = this.bytes(this.pos, HEADER_BYTES);
      const h = hb && decodeHeader(hb);
      if (h && h.lsn === this.nextLsn && h.flags & FLAG_PAYLOAD_FILE) {
        // The payload is read from its own file when wanted (lazily: it may be overwritten).
        const rec: JournalRecord = {
          ...h,
          payloadLen: h.length,
          segmentPath: payloadFilePath(this.seg!.path),
          payloadPos: this.payloadFilePos,
        };
        this.payloadFilePos += h.length;
        this.pos += HEADER_BYTES;
        this.nextLsn++;
        return rec;
      }
      if (h && h.lsn === this.nextLsn) {
        const payloadPos = this.pos + HEADER_BYTES;
        const rec: JournalRecord = { ...h, segmentPath: this.seg!.path, payloadPos };
        if (h.payloadLen && h.payloadLen <= EAGER_PAYLOAD) {
          rec.data = this.bytes(payloadPos, h.payloadLen);
        } else if (h.payloadLen) {
          rec.data = this.buffered(payloadPos, h.payloadLen);
        }
        this.pos = payloadPos + h.payloadLen;
        this.nextLsn++;
        return rec;
      }
      // End of this segment: move to the next one.
      const segs = this.journal.segmentList();
      const cur = segs.indexOf(this.seg!);
      const nxt = cur >= 0 ? segs[cur + 1] : segs.find((sg) => sg.firstLsn === this.nextLsn);
      if (!nxt || nxt.firstLsn > this.nextLsn) return undefined;
      this.openSegment(nxt);
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.seg = undefined;
  }
}

/** Reads a record's payload (data of a write, JSON of a bookmark). */
export function readPayload(rec: JournalRecord, from = 0, length = rec.payloadLen - from): Buffer {
  if (rec.data) return rec.data.subarray(from, from + length);
  const fd = openSync(rec.segmentPath, 'r');
  try {
    const b = Buffer.allocUnsafe(length);
    const n = readSync(fd, b, 0, length, rec.payloadPos + from);
    if (n !== length) throw new Error(`journal: short read in ${rec.segmentPath}`);
    return b;
  } finally {
    closeSync(fd);
  }
}
