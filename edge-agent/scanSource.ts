import { promises as fsp } from 'node:fs';
import { xxh64 } from '@node-rs/xxhash';
import { isAllZero } from '../core/disk/digest';
import { MAX_BATCH_BYTES } from '../core/batch';
import type { AgentDisk, BookmarkRequest, ChangeRecord, ChangeSource } from './changeSource';
import { sleep } from './fsUtil';
import { ShadowIndex, TRACK_BLOCK, zeroDigest } from './shadowIndex';

/**
 * Change source that finds changes by reading each disk: large sequential reads (4 MiB into
 * reused buffers), xxh64 per 4 KiB block (the filesystem's block: a 4 KiB write costs one
 * 4 KiB extent, not a 64 KiB one) compared with a persistent index of what the replica holds (one `ShadowIndex` per disk: what is
 * durably spooled, overlaid with what is in flight).
 *
 * A scan of a disk that is being written is not a point-in-time image: bookmarks from this
 * source are crash-consistent only if writes are quiesced during the pass (app bookmarks
 * freeze the application around the pass; images in tests are quiet).
 */
export const SCAN_READ_BYTES = 4 * 1024 * 1024;

interface Pending {
  pos: number;
  disk: ShadowIndex;
  first: number;
  digests: BigUint64Array;
}

export interface ScanSourceOptions {
  /** Pause between passes when no bookmark is wanted (continuous mode). */
  intervalMs: number;
  readBytes?: number;
  /**
   * Whether batches of this disk's generation were ever spooled. A missing index then means
   * tracking state was lost, not a fresh replica: every block is compared again.
   */
  sentBefore?: (disk: AgentDisk) => boolean;
}

export class ScanSource implements ChangeSource {
  private pos = 0;
  private pending: Pending[] = [];
  private wanted: { req: BookmarkRequest; resolve: () => void }[] = [];
  /** Bookmarks of the pass being handed out, not yet resolved. */
  private handing: { req: BookmarkRequest; resolve: () => void }[] = [];
  private invalidations = 0;
  private wake?: () => void;
  /** Bytes read and emitted by the last passes, for status and the bench. */
  readonly stats = { passes: 0, bytesRead: 0, dataBytes: 0, zeroBytes: 0 };

  private constructor(
    private readonly disks: ShadowIndex[],
    private readonly options: ScanSourceOptions,
  ) {}

  static async open(
    disks: AgentDisk[],
    indexDir: string,
    options: ScanSourceOptions,
  ): Promise<ScanSource> {
    await fsp.mkdir(indexDir, { recursive: true, mode: 0o700 });
    const out: ShadowIndex[] = [];
    for (const disk of disks)
      out.push(await ShadowIndex.open(indexDir, disk, options.sentBefore?.(disk) ?? false));
    return new ScanSource(out, options);
  }

  /** Index pages held in memory: unsaved committed ones and those with digests in flight. */
  get indexPagesInMemory(): number {
    let n = 0;
    for (const d of this.disks) n += d.pagesInMemory;
    return n;
  }

  requestBookmark(req: BookmarkRequest): Promise<void> {
    return new Promise((resolve) => {
      this.wanted.push({ req, resolve });
      this.wake?.();
    });
  }

  committed(pos: number): void {
    while (this.pending.length && this.pending[0]!.pos <= pos) {
      const p = this.pending.shift()!;
      p.disk.commit(p.first, p.digests);
      p.disk.release(p.first, p.digests.length);
    }
  }

  /**
   * The consumer lost records it had not committed (its loop failed): their digests leave the
   * shadow uncommitted, so the next pass compares those blocks again and sends them. Left
   * there, a later commit would have taken them as sent.
   */
  rewind(): Promise<void> {
    for (const p of this.pending.splice(0)) p.disk.release(p.first, p.digests.length);
    this.wanted.unshift(...this.handing.splice(0));
    return Promise.resolve();
  }

  invalidate(diskId: string, offset: number, length: number): void {
    const d = this.disks.find((x) => x.disk.id === diskId);
    if (!d || length <= 0) return;
    const first = Math.floor(offset / TRACK_BLOCK);
    const end = Math.min(d.blocks, Math.ceil((offset + length) / TRACK_BLOCK));
    this.invalidations++;
    // Pending digests of these blocks were not taken: they must not become committed.
    this.pending = this.pending.filter((p) => {
      const keep = p.disk !== d || p.first + p.digests.length <= first || p.first >= end;
      if (!keep) p.disk.release(p.first, p.digests.length);
      return keep;
    });
    d.forget(first, end);
  }

  async checkpoint(): Promise<void> {
    for (const d of this.disks) await d.save();
  }

  async close(): Promise<void> {
    this.wake?.();
    for (const d of this.disks) d.close();
  }

  /** Emitted digests (not committed yet) enter the shadow until the spool commits them. */
  private track(pos: number, d: ShadowIndex, first: number, digests: bigint[]) {
    const p = { pos, disk: d, first, digests: BigUint64Array.from(digests) };
    this.pending.push(p);
    d.track(first, p.digests);
  }

  async *changes(signal: AbortSignal): AsyncGenerator<ChangeRecord> {
    const buf = Buffer.allocUnsafe(this.options.readBytes ?? SCAN_READ_BYTES);
    while (!signal.aborted) {
      // Taken for this pass, and held in `handing` until resolved: a consumer whose loop fails
      // before then gets them again after rewind() (a freeze hook is waiting on each).
      const bookmarks = this.wanted.splice(0);
      this.handing = [...bookmarks];
      const before = this.invalidations;
      for (const d of this.disks) {
        if (signal.aborted) break;
        yield* this.scanDisk(d, buf, signal);
      }
      if (signal.aborted) {
        this.wanted.unshift(...this.handing.splice(0));
        break;
      }
      this.stats.passes++;
      if (this.invalidations !== before) {
        // Something of this pass was not taken: a bookmark now would be a lie. Next pass.
        this.wanted.unshift(...this.handing.splice(0));
      } else {
        for (const b of bookmarks) {
          yield {
            kind: 'bookmark',
            pos: ++this.pos,
            ...b.req,
            createdAt: new Date().toISOString(),
          };
          this.handing.shift();
          b.resolve();
        }
      }
      yield { kind: 'idle', pos: ++this.pos };
      if (this.wanted.length === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          void sleep(this.options.intervalMs, signal).then(resolve);
        });
        this.wake = undefined;
      }
    }
  }

  private async *scanDisk(
    d: ShadowIndex,
    buf: Buffer,
    signal: AbortSignal,
  ): AsyncGenerator<ChangeRecord> {
    const fh = await fsp.open(d.disk.path, 'r');
    try {
      const size = d.disk.sizeBytes;
      let zeroStart = -1; // pending zero run [zeroStart, zeroEnd)
      let zeroEnd = -1;
      let zeroDigests: bigint[] = [];
      const flushZero = (): ChangeRecord | undefined => {
        if (zeroStart < 0) return undefined;
        const rec: ChangeRecord = {
          kind: 'extent',
          pos: ++this.pos,
          diskId: d.disk.id,
          offset: zeroStart,
          length: zeroEnd - zeroStart,
        };
        this.track(rec.pos, d, zeroStart / TRACK_BLOCK, zeroDigests);
        this.stats.zeroBytes += zeroEnd - zeroStart;
        zeroStart = zeroEnd = -1;
        zeroDigests = [];
        return rec;
      };
      for (let off = 0; off < size && !signal.aborted; off += buf.length) {
        const want = Math.min(buf.length, size - off);
        let got = 0;
        while (got < want) {
          const { bytesRead } = await fh.read(buf, got, want - got, off + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        // A device or image that shrank reads as zeroes past its end.
        if (got < want) buf.fill(0, got, want);
        this.stats.bytesRead += want;
        const firstBlock = off / TRACK_BLOCK;
        const shadow = new BigUint64Array(Math.ceil(want / TRACK_BLOCK));
        d.shadow(firstBlock, shadow);
        let runStart = -1; // data run within this chunk, in bytes relative to the chunk
        let runDigests: bigint[] = [];
        const out: ChangeRecord[] = [];
        const flushData = (end: number) => {
          if (runStart < 0) return;
          const data = Buffer.from(buf.subarray(runStart, end));
          const rec: ChangeRecord = {
            kind: 'extent',
            pos: ++this.pos,
            diskId: d.disk.id,
            offset: off + runStart,
            length: data.length,
            data,
          };
          this.track(rec.pos, d, (off + runStart) / TRACK_BLOCK, runDigests);
          this.stats.dataBytes += data.length;
          out.push(rec);
          runStart = -1;
          runDigests = [];
        };
        for (let rel = 0; rel < want; rel += TRACK_BLOCK) {
          const len = Math.min(TRACK_BLOCK, want - rel);
          const block = buf.subarray(rel, rel + len);
          const h = xxh64(block);
          if (h === shadow[rel / TRACK_BLOCK]) {
            flushData(rel);
            const z = flushZero();
            if (z) out.push(z);
            continue;
          }
          if (h === zeroDigest(len) && isAllZero(block)) {
            flushData(rel);
            if (zeroStart >= 0 && zeroEnd === off + rel) zeroEnd += len;
            else {
              const z = flushZero();
              if (z) out.push(z);
              zeroStart = off + rel;
              zeroEnd = zeroStart + len;
            }
            zeroDigests.push(h);
          } else {
            const z = flushZero();
            if (z) out.push(z);
            if (runStart < 0) runStart = rel;
            runDigests.push(h);
            if (rel + len - runStart >= MAX_BATCH_BYTES) flushData(rel + len);
          }
        }
        flushData(want);
        yield* out;
      }
      const z = flushZero();
      if (z) yield z;
    } finally {
      await fh.close();
    }
  }
}
