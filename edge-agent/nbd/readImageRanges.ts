import { promises as fsp } from 'node:fs';
import { isAllZero } from '../../core/disk/digest';

/**
 * Reads byte ranges of a disk image in chunks of at most `buf.length` bytes, in order: chunks
 * that read as zeroes come without data (sent as zero ranges), the others with a copy of their
 * bytes (`buf` is reused for the next chunk). Past the end of the image reads as zeroes.
 */
export async function* readImageRanges(
  path: string,
  ranges: ReadonlyArray<{ offset: number; length: number }>,
  buf: Buffer,
): AsyncGenerator<{ offset: number; length: number; data?: Buffer }> {
  const fh = await fsp.open(path, 'r');
  try {
    for (const r of ranges) {
      for (let off = r.offset; off < r.offset + r.length; off += buf.length) {
        const n = Math.min(buf.length, r.offset + r.length - off);
        const { bytesRead } = await fh.read(buf, 0, n, off);
        if (bytesRead < n) buf.fill(0, bytesRead, n);
        const chunk = buf.subarray(0, n);
        if (isAllZero(chunk)) yield { offset: off, length: n };
        else yield { offset: off, length: n, data: Buffer.from(chunk) };
      }
    }
  } finally {
    await fh.close();
  }
}
