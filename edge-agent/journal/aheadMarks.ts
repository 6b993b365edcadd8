import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { xxh32 } from '@node-rs/xxhash';

const FILE = 'ahead.marks';
const MAGIC = 0x4856414d; // 'HVAM'
const SLOT_BYTES = 64;
const SLOTS = 4096;

/** An image write issued before its record was in the journal's file. */
export interface AheadMark {
  diskIndex: number;
  lsn: number;
  offset: number;
  length: number;
}

/**
 * Image writes issued ahead of their journal records. A large payload's record reaches the file
 * only once its O_DIRECT write is done (and the records behind it are held until then); waiting
 * for that before writing the image put the two writes in series. Instead, a mark (disk, range,
 * LSN) is written to this file (`pwrite` into the page cache: it survives a process crash, as
 * the record log's buffered writes do) before the image write is issued, and the two run side
 * by side; the answer still waits for both. After a crash, a mark whose LSN is past the last
 * record found names a range the image may hold and the journal lost: the journal marks it
 * dirty, durably, before anything else, and it is sent from the image (a `Resync`). A host crash
 * may lose marks too; the intent log covers every range written since its FLUSH then (rule 4).
 *
 * Slots are indexed by LSN; a slot whose mark is still live (its record not in the file yet) is
 * never overwritten: the write then waits for its record, as before.
 */
export class AheadMarks {
  /** The LSN of each slot's last mark (live while above the journal's written LSN). */
  private readonly slotLsn = new Float64Array(SLOTS);
  private readonly slot = Buffer.alloc(SLOT_BYTES);

  private constructor(private readonly fd: number) {}

  /** Opens the journal's marks file, emptied: the caller took what it held (see `lost`). */
  static open(dir: string): AheadMarks {
    const fd = openSync(join(dir, FILE), 'w', 0o600);
    ftruncateSync(fd, SLOTS * SLOT_BYTES);
    return new AheadMarks(fd);
  }

  /** The marks a crashed run left past `lastLsn` (the last record found): writes it lost. */
  static lost(dir: string, lastLsn: number): AheadMark[] {
    let b: Buffer;
    try {
      b = readFileSync(join(dir, FILE));
    } catch {
      return [];
    }
    const out: AheadMark[] = [];
    for (let pos = 0; pos + SLOT_BYTES <= b.length; pos += SLOT_BYTES) {
      const m = decode(b.subarray(pos, pos + SLOT_BYTES));
      if (m && m.lsn > lastLsn) out.push(m);
    }
    return out.sort((x, y) => x.lsn - y.lsn);
  }

  /**
   * Records that an image write is issued before its record is in the file (`writtenLsn`: the
   * last one that is); one write covering several records (`m.lsn` the first) is marked with
   * the first of them not in the file. False when that slot still holds a live mark: the write
   * must wait for its records.
   */
  mark(m: AheadMark, writtenLsn: number): boolean {
    const lsn = Math.max(m.lsn, writtenLsn + 1);
    const i = lsn % SLOTS;
    if (this.slotLsn[i]! > writtenLsn) return false;
    encode({ ...m, lsn }, this.slot);
    writeSync(this.fd, this.slot, 0, SLOT_BYTES, i * SLOT_BYTES);
    this.slotLsn[i] = lsn;
    return true;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function encode(m: AheadMark, b: Buffer): void {
  b.fill(0);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt16BE(m.diskIndex, 4);
  b.writeBigUInt64BE(BigInt(m.lsn), 8);
  b.writeBigUInt64BE(BigInt(m.offset), 16);
  b.writeBigUInt64BE(BigInt(m.length), 24);
  b.writeUInt32BE(xxh32(b.subarray(0, 32)), 32);
}

function decode(b: Buffer): AheadMark | undefined {
  if (b.readUInt32BE(0) !== MAGIC || xxh32(b.subarray(0, 32)) !== b.readUInt32BE(32)) {
    return undefined;
  }
  return {
    diskIndex: b.readUInt16BE(4),
    lsn: Number(b.readBigUInt64BE(8)),
    offset: Number(b.readBigUInt64BE(16)),
    length: Number(b.readBigUInt64BE(24)),
  };
}
