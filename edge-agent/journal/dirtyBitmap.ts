import { closeSync, fdatasync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { GroupCommit } from './groupCommit';

const fdatasyncP = promisify(fdatasync);
const MAGIC = 0x48564442; // 'HVDB'
const HEADER = 16;

/**
 * Persistent per-disk bitmap of blocks whose changes are NOT in the journal (overflow, journal
 * loss, host crash). The scan path sends these blocks from the disk itself. A bit is set durably
 * before the write it covers is acknowledged; it is cleared only after the scanned data was
 * handed to the durable spool. On disk: dirty ∪ scanning, so a crash during a scan keeps the bits.
 */
export class DirtyBitmap {
  readonly blocks: number;
  private readonly dirty: Uint8Array;
  private readonly scanning: Uint8Array;
  private readonly fd: number;
  private readonly commit: GroupCommit;
  private persistedGeneration = 0;
  /** The file held a bitmap when opened (a missing one after a crash means "unknown"). */
  readonly existed: boolean;
  private generation = 0;

  constructor(
    readonly path: string,
    readonly diskSize: number,
    readonly blockSize = 64 * 1024,
  ) {
    this.blocks = Math.ceil(diskSize / blockSize);
    const bytes = Math.ceil(this.blocks / 8);
    this.dirty = new Uint8Array(bytes);
    this.scanning = new Uint8Array(bytes);
    this.fd = openSync(path, 'a+', 0o600);
    closeSync(this.fd);
    this.fd = openSync(path, 'r+');
    const st = fstatSync(this.fd);
    this.existed = st.size > 0;
    if (st.size >= HEADER + bytes) {
      const h = Buffer.alloc(HEADER);
      readSync(this.fd, h, 0, HEADER, 0);
      if (
        h.readUInt32BE(0) === MAGIC &&
        h.readUInt32BE(4) === blockSize &&
        Number(h.readBigUInt64BE(8)) === diskSize
      ) {
        readSync(this.fd, this.dirty, 0, bytes, HEADER);
      } else {
        // A bitmap for another geometry: we cannot trust it, everything is suspect.
        this.markAll();
      }
    } else if (st.size > 0) {
      this.markAll();
    }
    this.commit = new GroupCommit(async () => {
      const gen = this.generation;
      this.writeAll();
      await fdatasyncP(this.fd);
      this.persistedGeneration = Math.max(this.persistedGeneration, gen);
    });
  }

  private writeAll(): void {
    const h = Buffer.alloc(HEADER);
    h.writeUInt32BE(MAGIC, 0);
    h.writeUInt32BE(this.blockSize, 4);
    h.writeBigUInt64BE(BigInt(this.diskSize), 8);
    const union = Buffer.from(this.dirty);
    for (let i = 0; i < union.length; i++) union[i]! |= this.scanning[i]!;
    writeSync(this.fd, Buffer.concat([h, union]), 0, HEADER + union.length, 0);
  }

  /** Marks [offset, offset+length) dirty in memory; true if any bit was newly set. */
  mark(offset: number, length: number): boolean {
    if (length <= 0) return false;
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + length - 1) / this.blockSize);
    let changed = false;
    for (let b = first; b <= last && b < this.blocks; b++) {
      const m = 1 << (b & 7);
      if (!(this.dirty[b >> 3]! & m)) {
        this.dirty[b >> 3]! |= m;
        changed = true;
      }
    }
    if (changed) this.generation++;
    return changed;
  }

  isSet(block: number): boolean {
    return (this.dirty[block >> 3]! & (1 << (block & 7))) !== 0;
  }

  /** Forgets a block (persisted with the next persist(); a stale set bit only costs a rescan). */
  clear(block: number): void {
    if (!this.isSet(block)) return;
    this.dirty[block >> 3]! &= ~(1 << (block & 7));
    this.generation++;
  }

  /** Indexes of the set blocks. */
  setBlocks(): number[] {
    const out: number[] = [];
    for (let b = 0; b < this.blocks; b++) if (this.isSet(b)) out.push(b);
    return out;
  }

  markAll(): void {
    for (let b = 0; b < this.blocks; b++) this.dirty[b >> 3]! |= 1 << (b & 7);
    this.generation++;
  }

  /** Resolves once every bit set so far is on disk. */
  async persist(): Promise<void> {
    const want = this.generation;
    while (this.persistedGeneration < want) await this.commit.request();
  }

  /** Sync variant for startup (no concurrency yet). */
  persistSync(): void {
    this.writeAll();
    this.persistedGeneration = this.generation;
  }

  dirtyCount(): number {
    let n = 0;
    for (let b = 0; b < this.blocks; b++) if (this.dirty[b >> 3]! & (1 << (b & 7))) n++;
    return n;
  }

  /**
   * Moves the dirty bits to "scanning" and returns them as merged byte ranges (clipped to the
   * disk). Bits set afterwards stay dirty for the next scan.
   */
  takeForScan(): Array<{ offset: number; length: number }> {
    const out: Array<{ offset: number; length: number }> = [];
    for (let b = 0; b < this.blocks; b++) {
      const m = 1 << (b & 7);
      if (!(this.dirty[b >> 3]! & m)) continue;
      this.dirty[b >> 3]! &= ~m;
      this.scanning[b >> 3]! |= m;
      const off = b * this.blockSize;
      const len = Math.min(this.blockSize, this.diskSize - off);
      const prev = out[out.length - 1];
      if (prev && prev.offset + prev.length === off) prev.length += len;
      else out.push({ offset: off, length: len });
    }
    return out;
  }

  /** The scanned data is durable downstream: forget the scanning bits (durably). */
  /**
   * The blocks taken for a scan are dirty again (the scan was lost before it was spooled). The
   * file does not change: it holds dirty ∪ scanning either way.
   */
  restoreScan(): void {
    for (let i = 0; i < this.dirty.length; i++) this.dirty[i]! |= this.scanning[i]!;
    this.scanning.fill(0);
  }

  async commitScan(): Promise<void> {
    this.scanning.fill(0);
    this.generation++;
    await this.persist();
  }

  close(): void {
    closeSync(this.fd);
  }
}
