import { SUB_BLOCK, isAllZero, subDigest } from '../disk/digest';
import { integrity } from '../errors';
import { MAX_PAGE_WRITE, type BlobStore } from '../replication/blobPorts';
import { REPLICAS, replicaBlobName } from '../replication/names';
import { ReplicaIndex } from '../replication/replicaIndex';
import type { DiffSource } from './shipDiff';

export interface SeedTarget {
  machineId: string;
  diskId: string;
  /** The new generation whose replica (already created, empty) is seeded. */
  generation: number;
  sizeBytes: number;
  /** Digest the disk had at failback (the site reported it): the seed must equal it. */
  expectedDigest: string;
}

export interface SeedResult {
  replica: string;
  /** Disk bytes written into the replica (all-zero runs are left unwritten: they read as zero). */
  bytesWritten: number;
  digest: string;
}

/**
 * Seeds a new generation's replica with the Azure disk the site equals after failback (its
 * final snapshot), inside the cloud: each non-zero run is written as pages and its 4 KiB
 * sub-digests go into the replica's index, as hydrate would have recorded them. The result's
 * digest must be the one the site reported at failback, so the first point of the new
 * generation (the agent sends only what changed since) is the site disk, whole. Idempotent: a
 * re-run writes the same bytes and digests.
 */
export async function seedReplica(
  blobs: BlobStore,
  source: DiffSource,
  t: SeedTarget,
): Promise<SeedResult> {
  const replica = replicaBlobName(t.machineId, t.diskId, t.generation);
  const index = new ReplicaIndex(blobs, t.machineId, t.diskId, t.generation, t.sizeBytes);
  await index.ensure();
  let bytesWritten = 0;
  for (let off = 0; off < t.sizeBytes; off += MAX_PAGE_WRITE) {
    const len = Math.min(MAX_PAGE_WRITE, t.sizeBytes - off);
    const buf = await source.read(off, len);
    if (isAllZero(buf)) continue;
    const subs = new Map<number, Buffer>();
    let run = -1;
    const flushRun = async (end: number) => {
      if (run < 0) return;
      // Page writes are 512-aligned: the disk size is sector-aligned, so only a ragged last
      // sub-block can need padding.
      const piece = buf.subarray(run, end);
      const padded =
        piece.length % 512
          ? Buffer.concat([piece, Buffer.alloc(512 - (piece.length % 512))])
          : piece;
      await blobs.uploadPages(REPLICAS, replica, off + run, padded);
      bytesWritten += piece.length;
      run = -1;
    };
    for (let i = 0; i < len; i += SUB_BLOCK) {
      const sub = buf.subarray(i, Math.min(i + SUB_BLOCK, len));
      if (isAllZero(sub)) {
        await flushRun(i);
        continue;
      }
      if (run < 0) run = i;
      subs.set((off + i) / SUB_BLOCK, subDigest(sub));
    }
    await flushRun(len);
    await index.update(subs);
    await index.flush();
  }
  const digest = await index.pointDigest(await index.readChanged());
  if (digest !== t.expectedDigest)
    throw integrity(
      `The seed of ${t.diskId} generation ${t.generation} (digest ${digest.slice(0, 12)}…) is not the disk the site reported at failback (${t.expectedDigest.slice(0, 12)}…).`,
    );
  // The changed-block bitmap stays set: to the new generation's first point, every seeded
  // block is new (it has no earlier point to be incremental to).
  await index.flush();
  return { replica, bytesWritten, digest };
}
