import { readdirSync, renameSync, unlinkSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

const MAX_SPARES = 2;

/**
 * Spare segment files: released segments kept for reuse (their blocks are allocated already,
 * so an fdatasync of records written into them flushes data only, no allocation metadata:
 * measured ~2.5x cheaper per FLUSH than appending to a growing file), or, with `preallocate`,
 * one zero-filled in the background when none can be recycled.
 */
export class SegmentSpares {
  private spares: string[] = [];
  private seq = 0;
  private preparing?: Promise<void>;
  private closed = false;

  constructor(
    private readonly opts: {
      dir: string;
      segmentBytes: number;
      preallocate: boolean;
      log: (msg: string) => void;
    },
  ) {
    // Spares left by a previous run.
    for (const n of readdirSync(opts.dir)) {
      const m = /^spare-(\d+)\.hvj$/.exec(n);
      if (m) {
        this.spares.push(join(opts.dir, n));
        this.seq = Math.max(this.seq, Number(m[1]) + 1);
      } else if (n === 'spare-prep.tmp') unlinkSync(join(opts.dir, n));
    }
  }

  /** Renames a spare to `path`; false when there is none. */
  take(path: string): boolean {
    const spare = this.spares.shift();
    if (spare) renameSync(spare, path);
    this.prepare();
    return spare !== undefined;
  }

  /** Keeps a released segment file as a spare if there is room (and it is full size). */
  keep(path: string, size: number): boolean {
    if (this.spares.length >= MAX_SPARES || size < this.opts.segmentBytes) return false;
    const spare = join(this.opts.dir, `spare-${this.seq++}.hvj`);
    renameSync(path, spare);
    this.spares.push(spare);
    return true;
  }

  /** Zero-fills a spare in the background (async writes, off the write path) if none is ready. */
  private prepare(): void {
    if (this.preparing || this.closed || this.spares.length > 0 || !this.opts.preallocate) return;
    const tmp = join(this.opts.dir, 'spare-prep.tmp');
    const target = join(this.opts.dir, `spare-${this.seq++}.hvj`);
    const size = this.opts.segmentBytes;
    this.preparing = (async () => {
      const fh = await fsp.open(tmp, 'w', 0o600);
      try {
        const zero = Buffer.alloc(4 * 1024 * 1024);
        for (let pos = 0; pos < size && !this.closed; pos += zero.length) {
          await fh.write(zero, 0, Math.min(zero.length, size - pos), pos);
        }
        await fh.datasync();
      } finally {
        await fh.close();
      }
      if (this.closed) {
        await fsp.unlink(tmp).catch(() => undefined);
        return;
      }
      await fsp.rename(tmp, target);
      this.spares.push(target);
    })()
      .catch((e: Error) =>
        this.opts.log(`journal: could not prepare a spare segment: ${e.message}`),
      )
      .finally(() => {
        this.preparing = undefined;
      });
  }

  /** Stops a zero fill early and waits for it. */
  async close(): Promise<void> {
    this.closed = true;
    await this.preparing;
  }
}
