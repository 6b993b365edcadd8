import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { xxh64 } from '@node-rs/xxhash';
import { readJson, writeFileAtomic } from './fsUtil';
import { IndexFile } from './indexFile';
import { TRACK_BLOCK } from './shadowIndex';

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
 * the site wrote after failback — instead of the whole disk.
 *
 * It is fed the very chunks the receiver hashes for the disk's final digest (one read of the
 * disk, not two), so the index describes exactly the bytes whose digest the control plane
 * accepts: no write can slip in between the digest and the index. It stays staged until
 * `commit` (digest accepted); `discard` drops it (a repair round reads again).
 */
export class SeedIndexWriter {
  private constructor(
    private readonly files: { index: string; info: string; staged: string },
    private readonly index: IndexFile,
    private readonly sizeBytes: number,
  ) {}

  static async open(stateDir: string, diskId: string, sizeBytes: number): Promise<SeedIndexWriter> {
    const f = seedFiles(stateDir, diskId);
    const staged = `${f.index}.staged`;
    await fsp.mkdir(path.dirname(staged), { recursive: true, mode: 0o700 });
    await fsp.rm(staged, { force: true });
    const index = await IndexFile.open(
      staged,
      { trackBlock: TRACK_BLOCK, sizeBytes, generation: 0 },
      Math.ceil(sizeBytes / TRACK_BLOCK),
    );
    return new SeedIndexWriter({ ...f, staged }, index, sizeBytes);
  }

  /** The disk's bytes at `off` (a whole number of 4 KiB blocks, or the disk's tail). */
  async add(off: number, chunk: Buffer): Promise<void> {
    if (off % TRACK_BLOCK !== 0) throw new Error(`seed index chunk at ${off} is not block-aligned`);
    const digests = new BigUint64Array(Math.ceil(chunk.length / TRACK_BLOCK));
    for (let i = 0; i < digests.length; i++)
      digests[i] = xxh64(chunk.subarray(i * TRACK_BLOCK, (i + 1) * TRACK_BLOCK));
    this.index.write(off / TRACK_BLOCK, digests);
    const end = off + chunk.length;
    if (end % SAVE_EVERY === 0 || end >= this.sizeBytes) await this.index.save();
  }

  /** The digest was accepted: the staged index becomes the disk's seed index. */
  async commit(info: SeedIndexInfo): Promise<void> {
    await this.index.save();
    this.index.close();
    await fsp.rm(this.files.info, { force: true }); // an index without its info is never used
    await fsp.rename(this.files.staged, this.files.index);
    await writeFileAtomic(this.files.info, JSON.stringify(info));
  }

  async discard(): Promise<void> {
    this.index.close();
    await fsp.rm(this.files.staged, { force: true });
  }
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
