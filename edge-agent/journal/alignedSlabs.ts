import { closeSync, constants, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PAYLOAD_ALIGN } from './records';

/** Payloads at least this large (and a multiple of PAYLOAD_ALIGN) are journaled O_DIRECT. */
export const DIRECT_MIN_BYTES = 128 * 1024;
const SLAB_BYTES = 16 * 1024 * 1024;

/**
 * Memory for large WRITE payloads that O_DIRECT can write from: slices of 16 MiB slabs, each
 * starting at an address the journal's filesystem takes for direct I/O. Node cannot allocate
 * aligned memory or tell an address, so each slab's aligned offset is found by trying an
 * O_DIRECT write of its start to a probe file (the kernel refuses a misaligned buffer with
 * EINVAL); slabs come from the same allocator, so the offset that worked last is tried first.
 * Slabs are SharedArrayBuffers: the drain thread can read a payload where it is. Nothing is
 * reused by hand: a slab is freed when no slice of it is referenced any more.
 */
export class AlignedSlabs {
  private slab?: Buffer;
  private used = 0;
  private lastOffset = 0;
  private readonly mine = new WeakSet<ArrayBufferLike>();

  private constructor(private readonly probeFd: number) {}

  /** Undefined when the directory's filesystem refuses O_DIRECT (tmpfs). */
  static open(dir: string): AlignedSlabs | undefined {
    const path = join(dir, 'align-probe.tmp');
    try {
      const fd = openSync(path, constants.O_CREAT | constants.O_RDWR | constants.O_DIRECT, 0o600);
      unlinkSync(path);
      return new AlignedSlabs(fd);
    } catch {
      return undefined;
    }
  }

  /** Aligned memory for a payload of `length` bytes, or undefined: allocate it plainly. */
  take(length: number): Buffer | undefined {
    if (length < DIRECT_MIN_BYTES || length % PAYLOAD_ALIGN || length > SLAB_BYTES)
      return undefined;
    if (!this.slab || this.slab.length - this.used < length) {
      this.slab = this.newSlab();
      this.used = 0;
      if (!this.slab) return undefined;
    }
    const b = this.slab.subarray(this.used, this.used + length);
    this.used += length;
    return b;
  }

  /** Whether `b` is memory this allocator handed out (so it can be written O_DIRECT). */
  owns(b: Buffer): boolean {
    return this.mine.has(b.buffer) && b.length % PAYLOAD_ALIGN === 0;
  }

  private newSlab(): Buffer | undefined {
    const raw = Buffer.from(new SharedArrayBuffer(SLAB_BYTES + PAYLOAD_ALIGN));
    const tries = [this.lastOffset];
    for (let k = 0; k < PAYLOAD_ALIGN; k += 16) if (k !== this.lastOffset) tries.push(k);
    for (const k of tries) {
      if (!this.aligned(raw.subarray(k, k + PAYLOAD_ALIGN))) continue;
      this.lastOffset = k;
      this.mine.add(raw.buffer);
      return raw.subarray(k, k + SLAB_BYTES);
    }
    return undefined;
  }

  private aligned(b: Buffer): boolean {
    try {
      writeSync(this.probeFd, b, 0, b.length, 0);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EINVAL') return false;
      throw e;
    }
  }

  close(): void {
    closeSync(this.probeFd);
  }
}
