import { createHash } from 'node:crypto';

/**
 * The 512-byte footer of a fixed VHD (Microsoft VHD spec v1.0), which Azure needs at the end
 * of a page blob to import it as a managed disk. `virtualSize` must be a multiple of 1 MiB.
 * Deterministic for the same inputs, so re-creating it after a crash writes the same bytes.
 */
export function fixedVhdFooter(virtualSize: number, identity: string, createdAtMs: number): Buffer {
  const f = Buffer.alloc(512);
  f.write('conectix', 0, 'ascii');
  f.writeUInt32BE(0x00000002, 8); // features: reserved bit always set
  f.writeUInt32BE(0x00010000, 12); // format version 1.0
  f.writeBigUInt64BE(0xffffffffffffffffn, 16); // data offset: none for fixed disks
  const vhdEpoch = Date.UTC(2000, 0, 1);
  f.writeUInt32BE(Math.max(0, Math.floor((createdAtMs - vhdEpoch) / 1000)) >>> 0, 24);
  f.write('hvn ', 28, 'ascii'); // creator application
  f.writeUInt32BE(0x00010000, 32);
  f.write('Wi2k', 36, 'ascii'); // creator host OS (Azure expects Windows)
  f.writeBigUInt64BE(BigInt(virtualSize), 40); // original size
  f.writeBigUInt64BE(BigInt(virtualSize), 48); // current size
  const { cylinders, heads, sectorsPerTrack } = chsGeometry(virtualSize);
  f.writeUInt16BE(cylinders, 56);
  f.writeUInt8(heads, 58);
  f.writeUInt8(sectorsPerTrack, 59);
  f.writeUInt32BE(2, 60); // disk type: fixed
  createHash('sha256').update(identity).digest().copy(f, 68, 0, 16); // unique id
  f.writeUInt32BE(checksum(f), 64);
  return f;
}

/** True when `b` is a well-formed fixed VHD footer (cookie and checksum). */
export function isVhdFooter(b: Buffer): boolean {
  if (b.length !== 512 || b.toString('ascii', 0, 8) !== 'conectix') return false;
  return b.readUInt32BE(64) === checksum(b);
}

export function vhdFooterSize(b: Buffer): number {
  return Number(b.readBigUInt64BE(48));
}

function checksum(f: Buffer): number {
  let sum = 0;
  for (let i = 0; i < 512; i++) if (i < 64 || i >= 68) sum += f[i]!;
  return ~sum >>> 0;
}

/** CHS geometry as the VHD specification computes it (appendix "CHS calculation"). */
function chsGeometry(size: number): { cylinders: number; heads: number; sectorsPerTrack: number } {
  let total = Math.floor(size / 512);
  if (total > 65535 * 16 * 255) total = 65535 * 16 * 255;
  let spt: number;
  let heads: number;
  let cth: number;
  if (total >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(total / spt);
  } else {
    spt = 17;
    cth = Math.floor(total / spt);
    heads = Math.floor((cth + 1023) / 1024);
    if (heads < 4) heads = 4;
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(total / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(total / spt);
    }
  }
  return { cylinders: Math.min(65535, Math.floor(cth / heads)), heads, sectorsPerTrack: spt };
}
