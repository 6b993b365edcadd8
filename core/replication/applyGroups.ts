import {
  MAX_BATCH_BYTES,
  type BatchBookmark,
  dataBytes,
  decodeBatch,
  envelopeDigest,
  stagingBlobName,
  type DecodedBatch,
} from '../batch';
import { HavenError, isHavenError } from '../errors';
import { dropMergedPoint, mayMergePast } from './catchUp';
import { cutPiece } from './cutPiece';
import { stopDisk } from './incidents';
import type { LeaseKeeper } from './leaseKeeper';
import type { DiskKey } from './names';
import { ReadAhead } from './readAhead';
import { applyExtents, mergeBatches, writtenSubDigests, type ReplicaRequests } from './pageWrites';
import { materializePoint } from './pointDocs';
import type { ProtectionSignals, ReplicationDeps, ReplicationOptions } from './ports';
import type { ReplicaIndex } from './replicaIndex';
import { deleteStaged, readStaged, type Staged } from './stagedBatch';
import type { VersionedDisk } from './state';
import { advance, type Applied } from './watermark';

/** One drain's view of a replica it holds the lease of. */
export interface DrainContext {
  deps: ReplicationDeps;
  opts: ReplicationOptions;
  key: DiskKey;
  replica: string;
  leaseId: string;
  diskSize: number;
  index: ReplicaIndex;
  keeper: LeaseKeeper;
  signals?: ProtectionSignals;
}

export interface GroupsOutcome {
  state: VersionedDisk;
  applied: number;
  points: string[];
  /** Groups written (each one page-write pass, one index flush, one watermark write). */
  groups: number;
  requests: ReplicaRequests;
  stopped?: string;
}

interface Fetched {
  /** Decoded data bytes; `undefined` when nothing is staged there or it was refused. */
  bytes: number | undefined;
  staged?: Staged;
  batch?: DecodedBatch;
  /** sha256 of the envelope (what ingest recorded and the watermark remembers). */
  digest?: string;
  refused?: HavenError;
}

interface Member extends Applied {
  decoded: DecodedBatch;
  /** Its bookmark was merged past (catchUp.ts): no piece; its point is a merged-point marker. */
  merged?: boolean;
}

/**
 * Applies the staged batches after the watermark in seq order, as merged groups: the batches
 * already waiting (up to `mergeBatches` / `mergeBytes`, never past a bookmark, whose snapshot
 * must show exactly the batches before it) are merged into one set of page writes (overlaps
 * resolved by order, adjacent extents joined), their sub-block digests come from the bytes
 * written (no replica read-back), the index is flushed, then the watermark moves once for the
 * whole group. A crash anywhere re-applies the group from the same first seq: the batches are
 * immutable, so the group is the same or longer, and the result is what applying them one by
 * one would give. Stops at a gap (the missing batch's arrival triggers the next drain).
 */
export async function applyStagedGroups(
  ctx: DrainContext,
  start: VersionedDisk,
): Promise<GroupsOutcome> {
  const { deps, opts, key } = ctx;
  const out: GroupsOutcome = {
    state: start,
    applied: 0,
    points: [],
    groups: 0,
    requests: { pageWrites: 0, clears: 0, readBacks: 0 },
  };
  // One data key read (and unwrap) per key per drain, not per batch.
  const keys = new Map<string, Promise<Buffer>>();
  const keyed: DrainContext = {
    ...ctx,
    deps: {
      ...deps,
      keys: {
        getDataKey: (m, k) => {
          let p = keys.get(`${m}/${k}`);
          if (!p) {
            p = Promise.resolve(deps.keys.getDataKey(m, k));
            p.catch(() => keys.delete(`${m}/${k}`));
            keys.set(`${m}/${k}`, p);
          }
          return p;
        },
      },
    },
  };
  const ahead = new ReadAhead<Fetched>(start.doc.appliedSeq, (seq) => fetchBatch(keyed, seq), {
    inFlight: opts.prefetch,
    // The whole next group decoded while this one's page writes are in flight.
    bytes: opts.mergeBytes,
    // Until a batch is seen, assume the largest: a short drain probes little past its end.
    firstGuess: MAX_BATCH_BYTES,
  });
  // A group's staged batches are deleted, one at a time, while the next group is written: awaited
  // before it, a drain catching up had 128 deletes a group with no page write in flight. Not as
  // blob batches: one request of 128 deletes held the local single-threaded emulator and raised
  // RPO p99 at 50 MB/s from ~3.0 to 5.1-5.5 s. Best effort: what a failure leaves is behind the
  // watermark, and the next drain drops it as a late duplicate (`dropLateDuplicates`).
  let deleting: Promise<unknown> = Promise.resolve();
  let seq = start.doc.appliedSeq;
  let previousBookmarkAt = start.doc.lastBookmarkAt ?? start.doc.lastPoint?.time;
  try {
    for (;;) {
      const group: Member[] = [];
      let bytes = 0;
      let refused: { seq: number; error: HavenError } | undefined;
      for (;;) {
        const s = seq + group.length + 1;
        const f = await ahead.take(s);
        if (!f.staged) break; // a gap or the end
        ctx.keeper.check();
        if (f.refused) {
          refused = { seq: s, error: f.refused };
          break;
        }
        const b = f.batch!;
        const data = dataBytes(b.header);
        group.push({
          seq: s,
          digest: f.digest!,
          bytes: data,
          name: stagingBlobName(key.machineId, key.diskId, key.generation, s),
          ...(f.staged.batch ? { batch: f.staged.batch } : {}),
          decoded: b,
        });
        bytes += data;
        const bookmark = b.header.bookmark;
        if (bookmark) {
          const previous = previousBookmarkAt;
          previousBookmarkAt = bookmark.createdAt;
          if (!(await mergePast(keyed, bookmark, previous, ahead.peek(s + 1)))) break;
          group[group.length - 1]!.merged = true;
        }
        // Not larger while catching up: the merge, digests and index update of a group run on
        // the event loop ingest shares, and 256 MiB groups held it long enough to delay points
        // (RPO p99 7.7 and 10.1 s at 10 MB/s in two of three 3-minute runs; docs/durability.md).
        if (group.length >= opts.mergeBatches || bytes >= opts.mergeBytes) break;
      }
      if (group.length) {
        await applyGroup(ctx, group, out);
        await deleting;
        deleting = (async () => {
          for (const m of group) await deleteStaged(deps, m.name, m.batch);
        })();
        seq = group[group.length - 1]!.seq;
      }
      if (refused) {
        await stopDisk(
          deps,
          { ...key, diskSize: ctx.diskSize, seq: refused.seq },
          'replication-integrity',
          `Staged batch ${stagingBlobName(key.machineId, key.diskId, key.generation, refused.seq)} refused: ${refused.error.message}`,
        );
        out.stopped = refused.error.message;
        return out;
      }
      if (!group.length) return out;
    }
  } finally {
    await deleting;
  }
}

/** Whether the group goes on past this bookmark (catchUp.ts): only with a next batch staged. */
async function mergePast(
  ctx: DrainContext,
  bookmark: BatchBookmark,
  previousAt: string | undefined,
  next: Promise<Fetched>,
): Promise<boolean> {
  const { deps, opts, key } = ctx;
  if (!mayMergePast(opts, bookmark, previousAt, deps.clock())) return false;
  const n = await next;
  if (!n.staged || n.refused) return false;
  return dropMergedPoint(deps, key.machineId, bookmark.id);
}

async function applyGroup(ctx: DrainContext, group: Member[], out: GroupsOutcome): Promise<void> {
  const { deps, opts, key, replica, leaseId, diskSize, index } = ctx;
  const merged = mergeBatches(group.map((m) => m.decoded));
  // The digests are hashed while the page writes are in flight (storage's time, not ours).
  const writes = applyExtents(deps, opts, replica, leaseId, merged, out.requests);
  writes.catch(() => {}); // awaited by the digests (and below); a failure must not go unhandled
  const subs = await writtenSubDigests(deps, replica, diskSize, merged, out.requests, writes);
  await writes;
  await index.update(subs);
  await index.flush();
  ctx.keeper.check();
  const last = group[group.length - 1]!;
  const header = last.decoded.header;
  const applied: Applied[] = group.map(({ decoded: _, merged: __, ...a }) => a);
  const bookmarkAt = group.findLast((m) => m.decoded.header.bookmark)?.decoded.header.bookmark
    ?.createdAt;
  out.groups++;
  if (!header.bookmark || last.merged) {
    out.state = await advance(deps, out.state, applied, undefined, bookmarkAt);
    out.applied += group.length;
    return;
  }
  // A point is committed with its group: the watermark never moves past a bookmark without it.
  const piece = await cutPiece(deps, key, replica, index, header);
  out.state = await advance(deps, out.state, applied, piece, bookmarkAt);
  out.applied += group.length;
  out.points.push(piece.pointId);
  const point = await materializePoint(deps, key.machineId, piece.pointId);
  if (point) {
    await ctx.signals?.pointPublished(key.machineId, {
      id: point.id,
      disks: point.disks.map((d) => d.diskId),
    });
  }
}

/** Reads, verifies and decodes one staged batch (the prefetcher runs it ahead). */
async function fetchBatch(ctx: DrainContext, seq: number): Promise<Fetched> {
  const { deps, key, diskSize } = ctx;
  const name = stagingBlobName(key.machineId, key.diskId, key.generation, seq);
  const staged = await readStaged(deps, name);
  if (!staged) return { bytes: undefined };
  try {
    if (staged.refused) throw staged.refused;
    const digest = envelopeDigest(staged.data);
    if (staged.metadata.sha256 && staged.metadata.sha256 !== digest) {
      throw new HavenError(
        'integrity',
        `Staged batch ${name} does not match the digest recorded at ingest.`,
      );
    }
    // In place: the envelope is not used again (its digest is taken above).
    const batch = await decodeBatch(staged.data, (m, k) => deps.keys.getDataKey(m, k), {
      inPlace: true,
    });
    const h = batch.header;
    if (
      h.machineId !== key.machineId ||
      h.diskId !== key.diskId ||
      h.generation !== key.generation ||
      h.seq !== seq
    ) {
      throw new HavenError(
        'integrity',
        `Staged batch ${name} holds ${h.machineId}/${h.diskId} g${h.generation} seq ${h.seq}.`,
      );
    }
    if (h.diskSize !== diskSize)
      throw new HavenError(
        'integrity',
        `Staged batch ${name} is for a ${h.diskSize}-byte disk, replica is ${diskSize}.`,
      );
    return { staged, batch, digest, bytes: dataBytes(h) };
  } catch (e) {
    if (isHavenError(e) && !e.retryable) return { staged, refused: e, bytes: undefined };
    throw e;
  }
}
