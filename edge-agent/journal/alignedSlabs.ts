import { closeSync, constants, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { NO_RELEASE, type PayloadPins } from './journalTypes';
import { PAYLOAD_ALIGN } from './records';
import { givePageMemory, takePageMemory } from './pageMemory';
import { SlabSlices } from './slabSlices';

/** Payloads at least this large (and a multiple of PAYLOAD_ALIGN) are journaled O_DIRECT. */
export const DIRECT_MIN_BYTES = 128 * 1024;
const SLAB_BYTES = 16 * 1024 * 1024;
/**
 * Emptied slabs kept for reuse at most. A stream needs about its in-flight writes plus the
 * drain's in-memory budget (64 MiB), so the slabs come back about as fast as they fill.
 */
const MAX_FREE = 4;

interface Slab {
  /** SLAB_BYTES of aligned memory (a view of a SharedArrayBuffer). */
  buf: Buffer;
  used: number;
  slices: SlabSlices;
  /** No more slices will be cut from it: reusable once every slice is released. */
  sealed: boolean;
  /** Page-aligned memory (takePageMemory), given back when the allocator closes. */
  paged: boolean;
}

/**
 * Memory for large WRITE payloads that O_DIRECT can write from: slices of 16 MiB slabs, each
 * starting on a page boundary (shared WebAssembly memory, see takePageMemory), checked by an
 * O_DIRECT write of its start to a probe file (the kernel refuses a misaligned buffer with
 * EINVAL). Where such memory cannot be had, a SharedArrayBuffer's first offset the probe takes is
 * used (slabs come from the same allocator, so the offset that worked last is tried first).
 * Slabs are shared memory: the drain thread reads a payload where it is.
 *
 * Slabs are reused: fresh memory costs a page fault and the zeroing of every page it touches,
 * once per byte written (reused, a 256 MiB sequential run took 43 k page faults instead of 70 k
 * and ran 11 % faster; more in a VM whose free pages go back to the host). A slice is held by
 * whoever may still read it: the request that received it (from `take` until it `adopt`s and
 * releases it), each write in flight from it (`pin`), the record kept in memory for the drain.
 * A sealed slab whose slices are all released is cut again. Every release is idempotent, so a
 * hold released twice never frees a slice someone else still holds; a hold never released only
 * keeps its slab from being reused (the collector frees it once unreferenced).
 */
export class AlignedSlabs implements PayloadPins {
  private current?: Slab;
  private readonly free: Slab[] = [];
  private lastOffset = 0;
  private readonly slabOf = new WeakMap<ArrayBufferLike, Slab>();
  /** Slabs allocated, and slabs cut again after all their slices were released. */
  readonly stats = { allocated: 0, reused: 0 };

  private constructor(
    private readonly probeFd: number,
    /** Fill a slab before reusing it: a reader that outlived its hold then reads garbage. */
    private readonly poison: boolean,
  ) {}

  /** Undefined when the directory's filesystem refuses O_DIRECT (tmpfs). */
  static open(dir: string, opts: { poison?: boolean } = {}): AlignedSlabs | undefined {
    const path = join(dir, 'align-probe.tmp');
    try {
      const fd = openSync(path, constants.O_CREAT | constants.O_RDWR | constants.O_DIRECT, 0o600);
      unlinkSync(path);
      return new AlignedSlabs(fd, opts.poison ?? false);
    } catch {
      return undefined;
    }
  }

  /**
   * Aligned memory for a payload of `length` bytes, held for the caller until it `adopt`s it;
   * undefined: allocate it plainly.
   */
  take(length: number): Buffer | undefined {
    if (length < DIRECT_MIN_BYTES || length % PAYLOAD_ALIGN || length > SLAB_BYTES)
      return undefined;
    let slab = this.current;
    if (!slab || slab.buf.length - slab.used < length) {
      if (slab) this.seal(slab);
      slab = this.free.pop() ?? this.newSlab();
      this.current = slab;
      if (!slab) return undefined;
    }
    const at = slab.used;
    slab.used += length;
    slab.slices.add(at, length);
    return slab.buf.subarray(at, at + length);
  }

  /** Whether `b` is memory this allocator handed out (so it can be written O_DIRECT). */
  owns(b: Uint8Array): boolean {
    return this.slabOf.has(b.buffer) && b.length % PAYLOAD_ALIGN === 0;
  }

  /**
   * Takes over the hold `take` gave the receiver of `b`: its release. Only the first call for a
   * slice gets it; memory not from here (or adopted already) gets a no-op.
   */
  adopt(b: Uint8Array): () => void {
    const found = this.find(b);
    if (!found || !found.slab.slices.adopt(found.at)) return NO_RELEASE;
    return this.releaser(found.slab, found.at);
  }

  /** One more hold on the slice holding `b` (a write in flight from it, a record kept). */
  pin(b: Uint8Array): () => void {
    const found = this.find(b);
    if (!found) return NO_RELEASE;
    found.slab.slices.hold(found.at);
    return this.releaser(found.slab, found.at);
  }

  private releaser(slab: Slab, at: number): () => void {
    // Bound to this cut of the slab: no release can reach the slices of its next one.
    const slices = slab.slices;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (slices.release(at) && slab.slices === slices && slab.sealed) this.recycle(slab);
    };
  }

  private find(b: Uint8Array): { slab: Slab; at: number } | undefined {
    const slab = this.slabOf.get(b.buffer);
    if (!slab) return undefined;
    const at = slab.slices.sliceAt(b.byteOffset - slab.buf.byteOffset);
    return at === undefined ? undefined : { slab, at };
  }

  private seal(slab: Slab): void {
    slab.sealed = true;
    if (slab.slices.live === 0) this.recycle(slab);
  }

  private recycle(slab: Slab): void {
    if (this.free.length >= MAX_FREE) return; // dropped: the collector frees it
    if (this.poison) slab.buf.fill(0xa5);
    slab.used = 0;
    slab.slices = new SlabSlices();
    slab.sealed = false;
    this.free.push(slab);
    this.stats.reused++;
  }

  private newSlab(): Slab | undefined {
    const paged = takePageMemory(SLAB_BYTES);
    const raw = paged ?? Buffer.from(new SharedArrayBuffer(SLAB_BYTES + PAYLOAD_ALIGN));
    // Page-aligned memory is only checked; elsewhere the first offset O_DIRECT takes is used.
    const tries = paged ? [0] : [this.lastOffset];
    if (!paged)
      for (let k = 0; k < PAYLOAD_ALIGN; k += 16) if (k !== this.lastOffset) tries.push(k);
    for (const k of tries) {
      if (!this.aligned(raw.subarray(k, k + PAYLOAD_ALIGN))) continue;
      if (!paged) this.lastOffset = k;
      const slab: Slab = {
        buf: raw.subarray(k, k + SLAB_BYTES),
        used: 0,
        slices: new SlabSlices(),
        sealed: false,
        paged: !!paged,
      };
      this.slabOf.set(raw.buffer, slab);
      this.stats.allocated++;
      return slab;
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
    // Emptied slabs: nothing reads them any more (a slab still held stays with its holders).
    const idle = this.current?.slices.live === 0 ? [this.current, ...this.free] : this.free;
    for (const slab of idle) if (slab.paged) givePageMemory(slab.buf);
    this.current = undefined;
    this.free.length = 0;
    closeSync(this.probeFd);
  }
}
