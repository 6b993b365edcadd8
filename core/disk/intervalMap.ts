/**
 * Last-writer-wins interval map over a disk's byte range. Later changes cut away whatever part
 * of earlier ones they cover, so a block overwritten ten times is written once, with its final
 * contents: the agent coalesces a batch window with it, the hydrator several waiting batches.
 * Pieces keep a reference to where their bytes live (journal payload, image, decoded batch)
 * so overwritten data is never read or copied.
 */
export type PieceSource =
  { kind: 'zero' } | { kind: 'data'; read: (from: number, length: number) => Buffer; base: number };

export interface Piece {
  start: number;
  end: number;
  src: PieceSource;
}

export class IntervalMap {
  /** Sorted, non-overlapping. */
  pieces: Piece[] = [];
  bytes = 0;

  /** First index whose end > pos. */
  private lowerBound(pos: number): number {
    let lo = 0;
    let hi = this.pieces.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.pieces[mid]!.end <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  set(start: number, end: number, src: PieceSource): void {
    if (end <= start) return;
    const i = this.lowerBound(start);
    const replaced: Piece[] = [];
    let j = i;
    while (j < this.pieces.length && this.pieces[j]!.start < end) j++;
    for (let k = i; k < j; k++) {
      const p = this.pieces[k]!;
      this.bytes -= p.end - p.start;
      if (p.start < start) replaced.push({ start: p.start, end: start, src: p.src });
      if (p.end > end) {
        const src: PieceSource =
          p.src.kind === 'data' ? { ...p.src, base: p.src.base + (end - p.start) } : p.src;
        replaced.push({ start: end, end: p.end, src });
      }
    }
    const left = replaced.filter((p) => p.end <= start);
    const right = replaced.filter((p) => p.start >= end);
    const mid: Piece = { start, end, src };
    for (const p of [...left, mid, ...right]) this.bytes += p.end - p.start;
    this.pieces.splice(i, j - i, ...left, mid, ...right);
  }

  clear(): void {
    this.pieces = [];
    this.bytes = 0;
  }
}

export type Extent =
  { kind: 'data'; offset: number; data: Buffer } | { kind: 'zero'; offset: number; length: number };

/**
 * Turns the map into extents: adjacent data pieces merge into one extent up to maxExtent bytes
 * (page blob uploadPages limit), adjacent zero pieces into one zero range. A merged extent's
 * bytes are copied into `alloc(length)` (default: a new buffer); the journal drain passes memory
 * it recycles, since on this kind of VM a page touched for the first time costs more than the copy.
 * A part `joinable` refuses is an extent of its own, as it is (the journal drain's payloads in
 * shared memory: handed over where they are, never copied).
 */
export function toExtents(
  map: IntervalMap,
  maxExtent = 4 * 1024 * 1024,
  alloc: (length: number) => Buffer = (n) => Buffer.allocUnsafe(n),
  joinable: (part: Buffer) => boolean = () => true,
): Extent[] {
  const out: Extent[] = [];
  let run: { start: number; parts: Buffer[]; len: number } | undefined;
  const join = (parts: Buffer[], len: number) => {
    const b = alloc(len);
    let at = 0;
    for (const p of parts) at += p.copy(b, at);
    return b;
  };
  const flushRun = () => {
    if (run?.len)
      out.push({
        kind: 'data',
        offset: run.start,
        data: run.parts.length === 1 ? run.parts[0]! : join(run.parts, run.len),
      });
    run = undefined;
  };
  for (const p of map.pieces) {
    if (p.src.kind === 'zero') {
      flushRun();
      const last = out[out.length - 1];
      if (last && last.kind === 'zero' && last.offset + last.length === p.start)
        last.length += p.end - p.start;
      else out.push({ kind: 'zero', offset: p.start, length: p.end - p.start });
      continue;
    }
    for (let pos = p.start; pos < p.end;) {
      if (!run || run.start + run.len !== pos || run.len >= maxExtent) {
        flushRun();
        run = { start: pos, parts: [], len: 0 };
      }
      let n = Math.min(p.end - pos, maxExtent - run.len);
      let part = p.src.read(p.src.base + (pos - p.start), n);
      if (!joinable(part)) {
        flushRun();
        // Not cut to what the run had left: as much as an extent takes.
        const whole = Math.min(p.end - pos, maxExtent);
        if (whole > n) part = p.src.read(p.src.base + (pos - p.start), (n = whole));
        out.push({ kind: 'data', offset: pos, data: part });
      } else {
        run.parts.push(part);
        run.len += n;
      }
      pos += n;
    }
  }
  flushRun();
  return out;
}
