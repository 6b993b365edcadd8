/**
 * Bytes received but not yet parsed; take() copies only when a request spans socket chunks.
 * A large request can also be received whole into a buffer of its own (target/filled).
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // bytes already consumed from chunks[0]
  length = 0;
  /** The buffer reads go straight into, and how much of it they filled. */
  private whole?: { buf: Buffer; filled: number };

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  take(n: number): Buffer {
    if (n > this.length) throw new Error(`ByteQueue: want ${n}, have ${this.length}`);
    if (n === 0) return Buffer.alloc(0);
    this.length -= n;
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const avail = c.length - this.head;
      const k = Math.min(avail, n - filled);
      c.copy(out, filled, this.head, this.head + k);
      filled += k;
      this.head += k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    return out;
  }

  /**
   * The next `length` bytes (counting those queued) received into one buffer: where the next
   * socket read should land, once at least `minRest` of them are still to come (the queued ones
   * are moved into it first). Undefined: read anywhere and push().
   */
  target(
    length: number,
    minRest: number,
    alloc: (n: number) => Buffer = (n) => Buffer.allocUnsafe(n),
  ): Buffer | undefined {
    if (!this.whole) {
      if (length - this.length < minRest) return undefined;
      const buf = alloc(length);
      const queued = this.length;
      if (queued > 0) this.take(queued).copy(buf);
      this.whole = { buf, filled: queued };
    }
    return this.whole.buf.subarray(this.whole.filled);
  }

  /** `n` bytes were read into target(); the whole buffer once it is complete (not yet queued). */
  filled(n: number): Buffer | undefined {
    const w = this.whole!;
    w.filled += n;
    if (w.filled < w.buf.length) return undefined;
    this.whole = undefined;
    return w.buf;
  }

  /** Drops up to n bytes; returns how many were dropped. */
  skip(n: number): number {
    const k = Math.min(n, this.length);
    let left = k;
    while (left > 0) {
      const c = this.chunks[0]!;
      const avail = c.length - this.head;
      const d = Math.min(avail, left);
      this.head += d;
      left -= d;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.length -= k;
    return k;
  }
}
