import { promises as fsp } from 'node:fs';
import { endianness } from 'node:os';
import { writeFileAtomic } from './fsUtil';

const MAGIC = 0x48565831; // 'HVX1'
const HDR = 32;
/** Entries per persisted page: 512 × 8 B = one 4 KiB file page. */
const PAGE_ENTRIES = 512;
const UNKNOWN = 0n;

export interface IndexGeometry {
  trackBlock: number;
  sizeBytes: number;
  generation: number;
}

/**
 * A digest index on disk (`HVX1` header, then one little-endian u64 per tracked block) that
 * is written back page by page: a checkpoint costs the pages that changed since the last one,
 * not the whole index (2 MiB per GiB of disk at 4 KiB tracking).
 *
 * Pages are rewritten in place. A crash mid-checkpoint leaves each 8-byte entry either at its
 * previous or at its new value; both are states the spool covers (an entry only ever holds a
 * digest whose batch is durably spooled, or "unknown"), so any mix of them is safe: at worst a
 * block is compared and sent again.
 */
export class IndexFile {
  private dirty: Uint8Array;
  /** The file is missing or of another geometry: the next save writes all of it, atomically. */
  private whole = true;

  constructor(
    private readonly file: string,
    private readonly geometry: IndexGeometry,
    private readonly entries: number,
  ) {
    this.dirty = new Uint8Array(Math.ceil(entries / PAGE_ENTRIES));
  }

  /**
   * The persisted digests; `undefined` when there is no file. A file of another geometry
   * reads as all-unknown: everything must be compared again, as if nothing were replicated.
   */
  async load(): Promise<BigUint64Array | undefined> {
    let b: Buffer;
    try {
      b = await fsp.readFile(this.file);
    } catch {
      return undefined;
    }
    const g = this.geometry;
    if (
      b.length !== HDR + this.entries * 8 ||
      b.readUInt32BE(0) !== MAGIC ||
      b.readUInt32BE(4) !== g.trackBlock ||
      Number(b.readBigUInt64BE(8)) !== g.sizeBytes ||
      b.readUInt32BE(16) !== g.generation
    ) {
      return new BigUint64Array(this.entries).fill(UNKNOWN);
    }
    this.whole = false;
    const a = new BigUint64Array(this.entries);
    if (endianness() === 'LE') b.copy(Buffer.from(a.buffer), 0, HDR);
    else for (let i = 0; i < this.entries; i++) a[i] = b.readBigUInt64LE(HDR + i * 8);
    return a;
  }

  /** Entries [first, end) changed in memory since the last save. */
  markDirty(first: number, end: number): void {
    if (end <= first) return;
    this.dirty.fill(1, Math.floor(first / PAGE_ENTRIES), Math.ceil(end / PAGE_ENTRIES));
  }

  /** Makes `a` durable: the dirty pages in place (one fdatasync), or all of it the first time. */
  async save(a: BigUint64Array): Promise<void> {
    if (this.whole) {
      this.dirty.fill(0);
      await writeFileAtomic(this.file, this.encodeWhole(a));
      this.whole = false;
      return;
    }
    const runs = this.takeDirtyRuns();
    if (runs.length === 0) return;
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(this.file, 'r+');
      for (const [p0, p1] of runs) {
        const first = p0 * PAGE_ENTRIES;
        const end = Math.min(this.entries, p1 * PAGE_ENTRIES);
        // A copy: the live array keeps changing while the write is in flight.
        const data = encodeEntries(a.subarray(first, end));
        await fh.write(data, 0, data.length, HDR + first * 8);
      }
      await fh.datasync();
    } catch (e) {
      for (const [p0, p1] of runs) this.dirty.fill(1, p0, p1);
      throw e;
    } finally {
      await fh?.close();
    }
  }

  private takeDirtyRuns(): [number, number][] {
    const runs: [number, number][] = [];
    const d = this.dirty;
    for (let p = 0; p < d.length;) {
      if (!d[p]) {
        p++;
        continue;
      }
      const start = p;
      while (p < d.length && d[p]) d[p++] = 0;
      runs.push([start, p]);
    }
    return runs;
  }

  private encodeWhole(a: BigUint64Array): Buffer {
    const b = Buffer.alloc(HDR + a.length * 8);
    b.writeUInt32BE(MAGIC, 0);
    b.writeUInt32BE(this.geometry.trackBlock, 4);
    b.writeBigUInt64BE(BigInt(this.geometry.sizeBytes), 8);
    b.writeUInt32BE(this.geometry.generation, 16);
    encodeEntries(a).copy(b, HDR);
    return b;
  }
}

function encodeEntries(a: BigUint64Array): Buffer {
  if (endianness() === 'LE') return Buffer.from(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  const b = Buffer.alloc(a.length * 8);
  for (let i = 0; i < a.length; i++) b.writeBigUInt64LE(a[i]!, i * 8);
  return b;
}
