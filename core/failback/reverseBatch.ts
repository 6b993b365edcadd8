import { decodeBatch, encodeBatch, type DecodedBatch, type GetDataKey } from '../batch';
import { integrity } from '../errors';
import type { ByteRange } from '../recovery/ports';

/**
 * Reverse batches (Azure disk → site disk, failback): the forward envelope of `core/batch`
 * (zstd + AES-256-GCM under the machine's data key, header as AAD) with `direction: 'to-site'`
 * in the authenticated header, so neither direction's batch can be replayed as the other's.
 * `generation` carries the failback session number; `seq` is dense from 1 per disk and session.
 */

/** Extent data per reverse batch: well under the envelope limit, a few per changed MiB. */
export const REVERSE_BATCH_BYTES = 4 * 1024 * 1024;

/** Splits ranges (sorted, disjoint, 512-aligned) into groups of at most `max` bytes each. */
export function groupRanges(
  ranges: readonly ByteRange[],
  max = REVERSE_BATCH_BYTES,
): ByteRange[][] {
  const out: ByteRange[][] = [];
  let cur: ByteRange[] = [];
  let bytes = 0;
  for (const r of ranges) {
    for (let off = r.offset; off < r.offset + r.length;) {
      if (bytes === max) {
        out.push(cur);
        cur = [];
        bytes = 0;
      }
      const len = Math.min(r.offset + r.length - off, max - bytes);
      cur.push({ offset: off, length: len });
      bytes += len;
      off += len;
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

export interface ReverseBatchId {
  machineId: string;
  diskId: string;
  /** The failback session (one per reprotect). */
  session: number;
  seq: number;
}

/** Seals one reverse batch of `extents` (data read from the Azure disk at those offsets). */
export function sealReverseBatch(
  id: ReverseBatchId & { diskSize: number; keyId: string },
  extents: readonly { offset: number; data: Buffer }[],
  key: Buffer,
): Buffer {
  return encodeBatch(
    {
      machineId: id.machineId,
      diskId: id.diskId,
      generation: id.session,
      seq: id.seq,
      diskSize: id.diskSize,
      keyId: id.keyId,
      direction: 'to-site',
    },
    extents.map((e) => ({ kind: 'data' as const, offset: e.offset, data: e.data })),
    key,
  );
}

/**
 * Opens a reverse batch: AEAD and extent digests checked by `decodeBatch`, then that it is a
 * to-site batch of exactly this machine, disk, session and seq (a swapped, reordered or
 * forward batch is refused as an integrity failure).
 */
export async function openReverseBatch(
  envelope: Uint8Array,
  want: ReverseBatchId,
  getKey: GetDataKey,
): Promise<DecodedBatch> {
  let b: DecodedBatch;
  try {
    b = await decodeBatch(envelope, getKey);
  } catch (e) {
    throw integrity(
      `Reverse batch ${want.diskId} #${want.seq} does not open: ${(e as Error).message}`,
    );
  }
  const h = b.header;
  if (
    h.direction !== 'to-site' ||
    h.machineId !== want.machineId ||
    h.diskId !== want.diskId ||
    h.generation !== want.session ||
    h.seq !== want.seq
  ) {
    throw integrity(
      `Batch ${h.diskId} g${h.generation} #${h.seq} (${h.direction ?? 'forward'}) is not reverse batch ${want.diskId} g${want.session} #${want.seq}.`,
    );
  }
  return b;
}
