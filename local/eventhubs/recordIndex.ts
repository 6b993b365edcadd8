import { HEADER } from './partitionRecovery';

/**
 * Where every record of a partition from `firstSeq` on is: its byte offset, enqueued time and
 * payload length, by sequence number. Kept in memory so positions resolve without reading the
 * segments (receivers start at an offset, a time or a sequence number).
 */
export class RecordIndex {
  constructor(
    private first: number,
    private offsets: number[],
    private times: number[],
    private lengths: number[],
  ) {}

  /** Sequence number of the oldest record still held. */
  get firstSeq(): number {
    return this.first;
  }
  /** Sequence number the next appended record gets. */
  get end(): number {
    return this.first + this.offsets.length;
  }

  push(offset: number, time: number, length: number): void {
    this.offsets.push(offset);
    this.times.push(time);
    this.lengths.push(length);
  }

  offsetOf(seq: number): number {
    return this.offsets[seq - this.first]!;
  }
  timeOf(seq: number): number {
    return this.times[seq - this.first]!;
  }

  /** First record before `end` at or after (or after) `offset`; `end` when there is none. */
  seqForOffset(offset: number, inclusive: boolean, end: number): number {
    const i = lowerBound(this.offsets, end - this.first, (o) =>
      inclusive ? o < offset : o <= offset,
    );
    return this.first + i;
  }
  /** First record before `end` enqueued after `timeMs`; `end` when there is none. */
  seqForTime(timeMs: number, end: number): number {
    const i = lowerBound(this.times, end - this.first, (t) => t <= timeMs);
    return this.first + i;
  }

  /**
   * The records from `seq` (before `end`, inside a segment ending at byte `segEnd`) one read
   * fetches: at most `maxCount` and (beyond the first) `maxBytes` of records, headers included.
   */
  run(
    seq: number,
    end: number,
    segEnd: number,
    maxCount: number,
    maxBytes: number,
  ): { count: number; bytes: number } {
    const i0 = seq - this.first;
    let n = 0;
    let span = 0;
    while (seq + n < end && n < maxCount) {
      const i = i0 + n;
      if (this.offsets[i]! >= segEnd) break;
      const len = HEADER + this.lengths[i]!;
      if (n > 0 && span + len > maxBytes) break;
      span += len;
      n++;
    }
    return { count: n, bytes: span };
  }

  /** Forgets the records before `seq` (their segments were trimmed). */
  dropBefore(seq: number): void {
    const drop = seq - this.first;
    this.offsets = this.offsets.slice(drop);
    this.times = this.times.slice(drop);
    this.lengths = this.lengths.slice(drop);
    this.first = seq;
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
