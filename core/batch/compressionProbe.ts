/** Extents in a row whose compression did not pay before the batch only probes. */
const MISSES_BEFORE_PROBING = 8;
/** While probing, one extent in this many is tried. */
const PROBE_EVERY = 16;

/**
 * Whether to try compressing the next extent of a batch. Data that does not compress (encrypted
 * volumes, media, compressed database pages) would cost a full compression pass per byte for
 * nothing, and a buffer for its output: after MISSES_BEFORE_PROBING such extents in a row only
 * one in PROBE_EVERY is tried, and the first that pays resumes trying each. Compressibility
 * changes along a disk, not extent by extent, so a batch's recent extents predict the next.
 */
export class CompressionProbe {
  private misses = 0;
  private skipped = 0;

  shouldTry(): boolean {
    if (this.misses < MISSES_BEFORE_PROBING) return true;
    if (++this.skipped < PROBE_EVERY) return false;
    this.skipped = 0;
    return true;
  }

  record(paid: boolean): void {
    this.misses = paid ? 0 : this.misses + 1;
  }
}
