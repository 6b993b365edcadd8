import { promises as fsp } from 'node:fs';
import { DIGEST_BLOCK, blockCount, blockDigest, treeDigest } from '../core/disk/digest';

/**
 * sha256 of every 64 KiB block of a disk image or device (the cloud's digest blocks).
 * `visit` sees each chunk as it was hashed (4 MiB, zero-filled past a short read).
 */
export async function blockDigestsOf(
  file: string,
  sizeBytes: number,
  visit?: (off: number, chunk: Buffer) => Promise<void>,
): Promise<Buffer[]> {
  const fh = await fsp.open(file, 'r');
  try {
    const digests: Buffer[] = new Array<Buffer>(blockCount(sizeBytes));
    const buf = Buffer.alloc(4 * 1024 * 1024);
    for (let off = 0; off < sizeBytes; off += buf.length) {
      const len = Math.min(buf.length, sizeBytes - off);
      const { bytesRead } = await fh.read(buf, 0, len, off);
      buf.fill(0, bytesRead, len);
      for (let i = 0; i < len; i += DIGEST_BLOCK)
        digests[(off + i) / DIGEST_BLOCK] = blockDigest(
          buf.subarray(i, Math.min(i + DIGEST_BLOCK, len)),
        );
      await visit?.(off, buf.subarray(0, len));
    }
    return digests;
  } finally {
    await fh.close();
  }
}

/** sha256 tree digest of a disk image or device (the same tree the cloud computes). */
export async function diskDigest(file: string, sizeBytes: number): Promise<string> {
  return treeDigest(await blockDigestsOf(file, sizeBytes), sizeBytes);
}
