import { closeSync, openSync, promises as fsp, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { writeFileAtomic } from './fsUtil';

const MAGIC = 0x48565831; // 'HVX1'
const HDR = 32;
/** Entries per persisted page: 512 × 8 B = one 4 KiB file page. */
export const PAGE_ENTRIES = 512;
const PAGE_BYTES = PAGE_ENTRIES * 8;
/** Pages per write when the whole file is written (2 MiB). */
const WHOLE_CHUNK_PAGES = 512;
const UNKNOWN = 0n;

export interface IndexGeometry {
  trackBlock: number;
  sizeBytes: number;
  generation: number;
}

/** How the file was found at open. */
export type IndexFileState = 'loaded' | 'missing' | 'other-geometry';

/**
 * A digest index on disk (`HVX1` header, then one little-endian u64 per tracked block), read
 * where it is needed and written back page by page. Memory holds only the pages changed since
 * the last save, never the index itself: a 1 TiB disk at 4 KiB tracking has a 2 GiB index, which
 * a lightweight agent cannot keep in RAM.
 *
 * Entries the file does not hold (no file yet, or a file of another geometry) read as the
 * caller's `missing` value (a fresh generation's zero digests) or as "unknown".
 *
 * Pages are rewritten in place; a crash mid-save leaves any mix of old and new entries, even a
 * torn entry. That is safe only because of the agent's restart rule (edge-agent/agent.ts): the
 * index is saved before the spool records a checkpoint, and on restart every range spooled
 * after the spool's last checkpoint is produced again (invalidate), so a stale entry never hides
 * a change (test/edge-agent/indexFile.int.test.ts tears a save).
 */
export class IndexFile {
  /** Pages changed since the last save. */
  private unsaved = new Map<number, BigUint64Array>();
  /** The pages a save in flight writes (still the newest values where `unsaved` has none). */
  private saving?: Map<number, BigUint64Array>;
  private fd = -1;
  private readonly pages: number;

  private constructor(
    private readonly file: string,
    private readonly geometry: IndexGeometry,
    private readonly entries: number,
    private readonly missing: (entry: number) => bigint,
    private state: IndexFileState,
  ) {
    this.pages = Math.ceil(entries / PAGE_ENTRIES);
  }

  /**
   * Opens the index. `missing` gives entries when there is no file; a file of another geometry
   * reads as all-unknown (everything is compared again, as if nothing were replicated).
   */
  static async open(
    file: string,
    geometry: IndexGeometry,
    entries: number,
    missing: (entry: number) => bigint = () => UNKNOWN,
  ): Promise<IndexFile> {
    const h = Buffer.alloc(HDR);
    let size: number;
    try {
      const fh = await fsp.open(file, 'r');
      try {
        size = (await fh.stat()).size;
        await fh.read(h, 0, HDR, 0);
      } finally {
        await fh.close();
      }
    } catch {
      return new IndexFile(file, geometry, entries, missing, 'missing');
    }
    const same =
      size === HDR + entries * 8 &&
      h.readUInt32BE(0) === MAGIC &&
      h.readUInt32BE(4) === geometry.trackBlock &&
      Number(h.readBigUInt64BE(8)) === geometry.sizeBytes &&
      h.readUInt32BE(16) === geometry.generation;
    return same
      ? new IndexFile(file, geometry, entries, missing, 'loaded')
      : new IndexFile(file, geometry, entries, () => UNKNOWN, 'other-geometry');
  }

  /**
   * Copies a saved index to `to` as the index of `generation` (same track block and size): a
   * seed index taken at failback becomes the index of the generation re-enable starts. The copy
   * is a copy renamed into place (atomic).
   */
  static async copyAs(from: string, to: string, generation: number): Promise<void> {
    const tmp = `${to}.tmp`;
    await fsp.copyFile(from, tmp);
    const fh = await fsp.open(tmp, 'r+');
    try {
      const h = Buffer.alloc(HDR);
      await fh.read(h, 0, HDR, 0);
      if (h.readUInt32BE(0) !== MAGIC) throw new Error(`${from} is not an index.`);
      h.writeUInt32BE(generation, 16);
      await fh.write(h, 16, 4, 16);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, to);
  }

  /** Entries [first, first + out.length) as they are now (saved or not). */
  read(first: number, out: BigUint64Array): void {
    if (this.state === 'loaded') this.readFile(first, out);
    else for (let i = 0; i < out.length; i++) out[i] = this.missing(first + i);
    overlayPages(first, out, (p) => this.unsaved.get(p) ?? this.saving?.get(p));
  }

  /** Sets entries from `first` (kept in memory until the next save). */
  write(first: number, values: BigUint64Array): void {
    this.update(first, first + values.length, (page, from, to, p0) =>
      page.set(values.subarray(from - first, to - first), from - p0),
    );
  }

  fill(first: number, end: number, value: bigint): void {
    this.update(first, end, (page, from, to, p0) => page.fill(value, from - p0, to - p0));
  }

  private update(
    first: number,
    end: number,
    apply: (page: BigUint64Array, from: number, to: number, p0: number) => void,
  ): void {
    for (let p = Math.floor(first / PAGE_ENTRIES); p * PAGE_ENTRIES < end; p++) {
      const p0 = p * PAGE_ENTRIES;
      let page = this.unsaved.get(p);
      if (!page) {
        page = new BigUint64Array(Math.min(PAGE_ENTRIES, this.entries - p0));
        this.read(p0, page);
        this.unsaved.set(p, page);
      }
      apply(page, Math.max(first, p0), Math.min(end, p0 + page.length), p0);
    }
  }

  /** How the file was found at open ('loaded' once a save wrote this geometry). */
  get found(): IndexFileState {
    return this.state;
  }

  /** Pages changed since the last save (what the next save writes, or all of them). */
  get unsavedPages(): number {
    return this.unsaved.size;
  }

  /**
   * Makes the index durable: the changed pages in place (one fdatasync), or, when the file does
   * not hold this geometry yet, all of it (atomically, written in chunks).
   */
  save(): Promise<void> {
    // One at a time; when idle the pages to write are taken now, before this call returns.
    const p = this.tail ? this.tail.then(() => this.saveNow()) : this.saveNow();
    const t = p.catch(() => undefined);
    this.tail = t;
    void t.then(() => {
      if (this.tail === t) this.tail = undefined;
    });
    return p;
  }

  private tail?: Promise<void>;

  private async saveNow(): Promise<void> {
    if (this.state === 'loaded' && this.unsaved.size === 0) return;
    const pages = (this.saving = this.unsaved);
    this.unsaved = new Map();
    try {
      if (this.state === 'loaded') await this.savePages(pages);
      else await this.saveWhole();
    } catch (e) {
      // Newer values win: put back only the pages not changed since.
      for (const [p, page] of pages) if (!this.unsaved.has(p)) this.unsaved.set(p, page);
      throw e;
    } finally {
      this.saving = undefined;
    }
  }

  private async savePages(pages: Map<number, BigUint64Array>): Promise<void> {
    const order = [...pages.keys()].sort((a, b) => a - b);
    const fh = await fsp.open(this.file, 'r+');
    try {
      for (let i = 0; i < order.length;) {
        // Adjacent pages go out in one write.
        let j = i + 1;
        while (j < order.length && order[j] === order[j - 1]! + 1) j++;
        const data = Buffer.concat(order.slice(i, j).map((p) => encodeEntries(pages.get(p)!)));
        await fh.write(data, 0, data.length, HDR + order[i]! * PAGE_BYTES);
        i = j;
      }
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  private async saveWhole(): Promise<void> {
    await writeFileAtomic(this.file, this.wholeFile());
    this.state = 'loaded';
    this.close(); // the old inode, if any
  }

  private *wholeFile(): Generator<Buffer> {
    yield this.header();
    for (let p = 0; p < this.pages; p += WHOLE_CHUNK_PAGES) {
      const first = p * PAGE_ENTRIES;
      const a = new BigUint64Array(
        Math.min(WHOLE_CHUNK_PAGES * PAGE_ENTRIES, this.entries - first),
      );
      this.read(first, a);
      yield encodeEntries(a);
    }
  }

  /** Closes the file; a later read opens it again. */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private readFile(first: number, out: BigUint64Array): void {
    if (this.fd < 0) this.fd = openSync(this.file, 'r');
    const b = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    let done = 0;
    while (done < b.length) {
      const n = readSync(this.fd, b, done, b.length - done, HDR + first * 8 + done);
      if (n === 0) throw new Error(`index ${this.file}: short read`);
      done += n;
    }
    if (endianness() !== 'LE')
      for (let i = 0; i < out.length; i++) out[i] = b.readBigUInt64LE(i * 8);
  }

  private header(): Buffer {
    const b = Buffer.alloc(HDR);
    b.writeUInt32BE(MAGIC, 0);
    b.writeUInt32BE(this.geometry.trackBlock, 4);
    b.writeBigUInt64BE(BigInt(this.geometry.sizeBytes), 8);
    b.writeUInt32BE(this.geometry.generation, 16);
    return b;
  }
}

/** Copies into `out` (entries from `first`) the entries of the pages `pageOf` has. */
export function overlayPages(
  first: number,
  out: BigUint64Array,
  pageOf: (page: number) => BigUint64Array | undefined,
): void {
  const end = first + out.length;
  for (let p = Math.floor(first / PAGE_ENTRIES); p * PAGE_ENTRIES < end; p++) {
    const page = pageOf(p);
    if (!page) continue;
    const p0 = p * PAGE_ENTRIES;
    const from = Math.max(first, p0);
    const to = Math.min(end, p0 + page.length);
    out.set(page.subarray(from - p0, to - p0), from - first);
  }
}

function encodeEntries(a: BigUint64Array): Buffer {
  if (endianness() === 'LE') return Buffer.from(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  const b = Buffer.alloc(a.length * 8);
  for (let i = 0; i < a.length; i++) b.writeBigUInt64LE(a[i]!, i * 8);
  return b;
}
