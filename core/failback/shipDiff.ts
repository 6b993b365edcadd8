import { createHash } from 'node:crypto';
import { DIGEST_BLOCK, blockCount, blockDigest, treeDigest } from '../disk/digest';
import type { ByteRange } from '../recovery/ports';
import type { BlobStore } from '../replication/blobPorts';
import type { ReverseBatchRef } from './model';
import { digestsBlobName, outContainerOf, reverseBlobName } from './model';
import { groupRanges, sealReverseBatch } from './reverseBatch';

/** Something whose bytes can be read by range: a snapshot reader, a replica snapshot. */
export interface DiffSource {
  read(offset: number, length: number): Promise<Buffer>;
}

export interface ShipDeps {
  blobs: Pick<BlobStore, 'ensureContainer' | 'putBlockBlob' | 'readBlob'>;
  /** The machine's current data key (the agent holds the same). */
  key: Buffer;
  keyId: string;
}

export interface ShipTarget {
  machineId: string;
  diskId: string;
  session: number;
  sizeBytes: number;
}

export interface Shipped {
  batches: ReverseBatchRef[];
  /** Disk bytes read and shipped (block-aligned changed ranges). */
  bytesChanged: number;
  /** The disk's digest once these batches are applied. */
  expectedDigest: string;
}

const COMPARE_CHUNK = 4 * 1024 * 1024;

/** Ranges widened to whole digest blocks (clipped to the disk), merged. */
export function toBlocks(ranges: readonly ByteRange[], sizeBytes: number): ByteRange[] {
  const out: ByteRange[] = [];
  for (const r of [...ranges].sort((a, b) => a.offset - b.offset)) {
    const start = Math.floor(r.offset / DIGEST_BLOCK) * DIGEST_BLOCK;
    const end = Math.min(sizeBytes, Math.ceil((r.offset + r.length) / DIGEST_BLOCK) * DIGEST_BLOCK);
    if (end <= start) continue;
    const last = out[out.length - 1];
    if (last && last.offset + last.length >= start)
      last.length = Math.max(last.length, end - last.offset);
    else out.push({ offset: start, length: end - start });
  }
  return out;
}

/**
 * The first diff when no base snapshot of the failover point exists: both disks read in
 * the cloud, compared block by block. Returns the blocks where `cur` (the Azure disk) differs
 * from `base` (the failover point) and the digest of every block of `cur`.
 */
export async function compareDisks(
  cur: DiffSource,
  base: DiffSource,
  sizeBytes: number,
): Promise<{ ranges: ByteRange[]; digests: Buffer[] }> {
  const digests: Buffer[] = new Array<Buffer>(blockCount(sizeBytes));
  const ranges: ByteRange[] = [];
  for (let off = 0; off < sizeBytes; off += COMPARE_CHUNK) {
    const len = Math.min(COMPARE_CHUNK, sizeBytes - off);
    const [a, b] = await Promise.all([cur.read(off, len), base.read(off, len)]);
    for (let i = 0; i < len; i += DIGEST_BLOCK) {
      const bl = Math.min(DIGEST_BLOCK, len - i);
      const mine = a.subarray(i, i + bl);
      digests[(off + i) / DIGEST_BLOCK] = blockDigest(mine);
      if (!mine.equals(b.subarray(i, i + bl))) ranges.push({ offset: off + i, length: bl });
    }
  }
  return { ranges: toBlocks(ranges, sizeBytes), digests };
}

/** The block digests stored with the last shipment (to update instead of reading the whole disk). */
export async function loadDigests(deps: ShipDeps, t: ShipTarget): Promise<Buffer[] | undefined> {
  const b = await deps.blobs.readBlob(
    outContainerOf(t.machineId),
    digestsBlobName(t.diskId, t.session),
  );
  if (!b) return undefined;
  const out: Buffer[] = [];
  for (let i = 0; i < b.data.length; i += 32) out.push(Buffer.from(b.data.subarray(i, i + 32)));
  return out.length === blockCount(t.sizeBytes) ? out : undefined;
}

/**
 * Reads `ranges` (block-aligned) of the Azure disk, seals them as reverse batches numbered
 * from `firstSeq`, stores them in the machine's out- container and the updated block
 * digests next to them. Repeating it overwrites the same names: nothing is listed for the
 * agent before the caller records the result.
 */
export async function shipRanges(
  deps: ShipDeps,
  t: ShipTarget,
  src: DiffSource,
  ranges: readonly ByteRange[],
  firstSeq: number,
  digests: Buffer[],
): Promise<Shipped> {
  const container = outContainerOf(t.machineId);
  await deps.blobs.ensureContainer(container);
  const batches: ReverseBatchRef[] = [];
  let bytesChanged = 0;
  let seq = firstSeq;
  for (const group of groupRanges(toBlocks(ranges, t.sizeBytes))) {
    const extents: { offset: number; data: Buffer }[] = [];
    for (const r of group) {
      const data = await src.read(r.offset, r.length);
      for (let i = 0; i < r.length; i += DIGEST_BLOCK)
        digests[(r.offset + i) / DIGEST_BLOCK] = blockDigest(
          data.subarray(i, Math.min(i + DIGEST_BLOCK, r.length)),
        );
      extents.push({ offset: r.offset, data });
      bytesChanged += r.length;
    }
    const envelope = sealReverseBatch(
      { ...t, seq, keyId: deps.keyId, diskSize: t.sizeBytes },
      extents,
      deps.key,
    );
    const blob = reverseBlobName(t.diskId, t.session, seq);
    await deps.blobs.putBlockBlob(container, blob, envelope);
    batches.push({
      seq,
      blob,
      sha256: createHash('sha256').update(envelope).digest('hex'),
      bytes: envelope.length,
      dataBytes: extents.reduce((n, e) => n + e.data.length, 0),
    });
    seq++;
  }
  await deps.blobs.putBlockBlob(
    container,
    digestsBlobName(t.diskId, t.session),
    Buffer.concat(digests),
  );
  return { batches, bytesChanged, expectedDigest: treeDigest(digests, t.sizeBytes) };
}
