import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { xxh64 } from '@node-rs/xxhash';
import { readJson, writeFileAtomic } from './fsUtil';
import { IndexFile } from './indexFile';
import { SCAN_READ_BYTES, TRACK_BLOCK } from './scanSource';

/** What a seed index describes: the disk as it was when the site took it over at failback. */
export interface SeedIndexInfo {
  diskId: string;
  sizeBytes: number;
  /** The device or image the failback was applied to: the index describes only that one. */
  path: string;
  /** The digest tree of the disk then (the one the control plane accepted). */
  digest: string;
}

const seedFiles = (stateDir: string, diskId: string) => ({
  index: path.join(stateDir, 'failback', `${diskId}.seed.idx`),
  info: path.join(stateDir, 'failback', `${diskId}.seed.json`),
});

/** Disk bytes between index saves while the seed is written (bounds the pages in memory). */
const SAVE_EVERY = 256 * 1024 * 1024;

/**
 * The scan index of the disk at the moment its failback was accepted (xxh64 per 4 KiB, the
 * scan source's index), kept until re-enable: the cloud seeds the new generation's replica
 * with exactly this disk, so the agent then sends only the blocks that differ from it — what
 * the site wrote after failback — instead of the whole disk. Written before the server starts
 * on site (the receiver runs while the disk is quiet).
 */
export async function writeSeedIndex(stateDir: string, info: SeedIndexInfo): Promise<void> {
  const f = seedFiles(stateDir, info.diskId);
  await fsp.rm(f.info, { force: true }); // an index without its info is never used
  const blocks = Math.ceil(info.sizeBytes / TRACK_BLOCK);
  const index = await IndexFile.open(
    f.index,
    { trackBlock: TRACK_BLOCK, sizeBytes: info.sizeBytes, generation: 0 },
    blocks,
  );
  const fh = await fsp.open(info.path, 'r');
  try {
    const buf = Buffer.alloc(SCAN_READ_BYTES);
    for (let off = 0; off < info.sizeBytes; off += buf.length) {
      const len = Math.min(buf.length, info.sizeBytes - off);
      const { bytesRead } = await fh.read(buf, 0, len, off);
      buf.fill(0, bytesRead, len);
      const digests = new BigUint64Array(Math.ceil(len / TRACK_BLOCK));
      for (let i = 0; i < digests.length; i++)
        digests[i] = xxh64(buf.subarray(i * TRACK_BLOCK, Math.min((i + 1) * TRACK_BLOCK, len)));
      index.write(off / TRACK_BLOCK, digests);
      if ((off + len) % SAVE_EVERY === 0 || off + len >= info.sizeBytes) await index.save();
    }
  } finally {
    await fh.close();
    index.close();
  }
  await writeFileAtomic(f.info, JSON.stringify(info));
}

/**
 * Installs the seed index as the index of `generation` when it describes the disk the cloud
 * seeded (same digest and size) on the device the agent replicates. Returns false otherwise:
 * the caller must then compare every block again (the seeded replica is not all-zero).
 */
export async function installSeedIndex(
  stateDir: string,
  indexFile: string,
  generation: number,
  disk: { id: string; path: string; sizeBytes: number },
  seedDigest: string,
): Promise<boolean> {
  const f = seedFiles(stateDir, disk.id);
  const info = await readJson<SeedIndexInfo>(f.info);
  if (
    !info ||
    info.digest !== seedDigest ||
    info.sizeBytes !== disk.sizeBytes ||
    path.resolve(info.path) !== path.resolve(disk.path)
  )
    return false;
  await IndexFile.copyAs(f.index, indexFile, generation);
  return true;
}
