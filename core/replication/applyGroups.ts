import { MAX_BATCH_BYTES, stagingBlobName } from '../batch';
import { cutPiece } from './cutPiece';
import {
  GroupAssembler,
  fetchBatch,
  type Assembly,
  type DrainContext,
  type Fetched,
  type Member,
} from './groupAssembly';
import { stopDisk } from './incidents';
import { ReadAhead } from './readAhead';
import { applyExtents, mergeBatches, writtenSubDigests, type ReplicaRequests } from './pageWrites';
import { materializePoint } from './pointDocs';
import { deleteStaged } from './stagedBatch';
import type { VersionedDisk } from './state';
import { advance, type Applied } from './watermark';

export interface GroupsOutcome {
  state: VersionedDisk;
  applied: number;
  points: string[];
  /** Groups written (each one page-write pass, one index flush, one watermark write). */
  groups: number;
  requests: ReplicaRequests;
  stopped?: string;
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
 * Pipelined: while a group's pages are written the next group is put together
 * (`GroupAssembler`), and while a group commits the next one's pages are written.
 */
export async function applyStagedGroups(
  ctx: DrainContext,
  start: VersionedDisk,
): Promise<GroupsOutcome> {
  const { deps, opts } = ctx;
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
  // A group's staged batches are deleted, one at a time, while later groups are written, once
  // its watermark is written: awaited before the next group, a drain catching up had 128
  // deletes a group with no page write in flight. Not as blob batches: one request of 128
  // deletes held the local single-threaded emulator and raised RPO p99 at 50 MB/s from ~3.0 to
  // 5.1-5.5 s. Best effort: what a failure leaves is behind the watermark, and the next drain
  // drops it as a late duplicate (`dropLateDuplicates`).
  let deleting: Promise<unknown> = Promise.resolve();
  const assembler = new GroupAssembler(
    keyed,
    ahead,
    start.doc.lastBookmarkAt ?? start.doc.lastPoint?.time,
  );
  const fresh = (after: number): Assembly => ({ after, group: [], bytes: 0, open: true });
  let next = assembler.assemble(fresh(start.doc.appliedSeq));
  /** The previous group's commit (`applyGroup`), running while this one is written. */
  let committing: Promise<void> = Promise.resolve();
  try {
    for (let early = false; ; early = true) {
      let a = await next;
      // Put together while the previous group was written: what was staged since goes with it.
      if (early && a.open) a = await assembler.assemble(a);
      const { group, refused } = a;
      if (!group.length) {
        await committing;
        if (refused) await stop(ctx, refused.seq, refused.error.message, out);
        return out;
      }
      for (const m of group) void ahead.take(m.seq); // the read-ahead moves on to the next group
      const last = group[group.length - 1]!.seq;
      next = refused
        ? Promise.resolve({ ...fresh(last), refused, open: false })
        : assembler.assemble(fresh(last));
      next.catch(() => {}); // awaited next round; the drain may fail before that
      ({ commit: committing } = await applyGroup(ctx, group, out, committing));
      const committed = committing.then(
        () => true,
        () => false,
      );
      // Names only: a closure holding the group would keep its decoded batches until it ran.
      const staged = group.map(({ name, batch }) => ({ name, batch }));
      // At most one group's deletes behind, as when the commit was awaited in line.
      await deleting;
      deleting = (async () => {
        if (await committed) for (const m of staged) await deleteStaged(deps, m.name, m.batch);
      })();
    }
  } finally {
    // Nothing of this drain may run past it: the caller releases the lease next.
    await Promise.allSettled([committing, next]);
    await deleting;
  }
}

async function stop(ctx: DrainContext, seq: number, why: string, out: GroupsOutcome) {
  const { deps, key } = ctx;
  await stopDisk(
    deps,
    { ...key, diskSize: ctx.diskSize, seq },
    'replication-integrity',
    `Staged batch ${stagingBlobName(key.machineId, key.diskId, key.generation, seq)} refused: ${why}`,
  );
  out.stopped = why;
}

/**
 * Writes a group's pages and cuts its point's snapshot, then returns its commit (index flush,
 * watermark, point) running: the next group's page writes go on meanwhile. Timed over a 180 s
 * run at 10 MB/s of random churn, the commit's round trips left the replica without a page
 * write in flight for 11 % of the drain. The commit of `previous` is awaited before this group
 * touches the index or the watermark. What must come first is the point's snapshot and piece:
 * a crash re-applies the group from the watermark over the next group's first page writes, and
 * only a piece recorded before them keeps the point what it was (`cutPiece` reuses it).
 */
async function applyGroup(
  ctx: DrainContext,
  group: Member[],
  out: GroupsOutcome,
  previous: Promise<void>,
): Promise<{ commit: Promise<void> }> {
  const { deps, opts, key, replica, leaseId, diskSize, index } = ctx;
  const merged = mergeBatches(group.map((m) => m.decoded));
  // The digests are hashed while the page writes are in flight (storage's time, not ours).
  const writes = applyExtents(deps, opts, replica, leaseId, merged, out.requests);
  writes.catch(() => {}); // awaited by the digests (and below); a failure must not go unhandled
  const subs = await writtenSubDigests(deps, replica, diskSize, merged, out.requests, writes);
  await writes;
  await previous;
  await index.update(subs);
  ctx.keeper.check();
  const last = group[group.length - 1]!;
  const header = last.decoded.header;
  const applied: Applied[] = group.map(({ decoded: _, merged: __, ...a }) => a);
  const bookmarkAt = group.findLast((m) => m.decoded.header.bookmark)?.decoded.header.bookmark
    ?.createdAt;
  out.groups++;
  const piece =
    header.bookmark && !last.merged ? await cutPiece(deps, key, replica, index, header) : undefined;
  const commit = (async () => {
    // The index before the watermark: a drain that starts from the watermark trusts it.
    if (piece) await index.clearChanged();
    else await index.flush();
    ctx.keeper.check();
    // A point is committed with its group: the watermark never moves past a bookmark without it.
    out.state = await advance(deps, out.state, applied, piece, bookmarkAt);
    out.applied += group.length;
    if (!piece) return;
    out.points.push(piece.pointId);
    const point = await materializePoint(deps, key.machineId, piece.pointId);
    if (point) {
      await ctx.signals?.pointPublished(key.machineId, {
        id: point.id,
        disks: point.disks.map((d) => d.diskId),
      });
    }
  })();
  commit.catch(() => {}); // awaited by the next group or the drain's end
  // In an object: an async function returning the promise itself would wait for it.
  return { commit };
}
