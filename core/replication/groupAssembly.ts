import {
  type BatchBookmark,
  dataBytes,
  decodeBatch,
  envelopeDigest,
  stagingBlobName,
  type DecodedBatch,
} from '../batch';
import { HavenError, isHavenError } from '../errors';
import { dropMergedPoint, mayMergePast } from './catchUp';
import type { LeaseKeeper } from './leaseKeeper';
import type { DiskKey } from './names';
import type { ProtectionSignals, ReplicationDeps, ReplicationOptions } from './ports';
import type { ReadAhead } from './readAhead';
import type { ReplicaIndex } from './replicaIndex';
import { readStaged, type Staged } from './stagedBatch';
import type { Applied } from './watermark';

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

export interface Fetched {
  /** Decoded data bytes; `undefined` when nothing is staged there or it was refused. */
  bytes: number | undefined;
  staged?: Staged;
  batch?: DecodedBatch;
  /** sha256 of the envelope (what ingest recorded and the watermark remembers). */
  digest?: string;
  refused?: HavenError;
}

export interface Member extends Applied {
  decoded: DecodedBatch;
  /** Its bookmark was merged past (catchUp.ts): no piece; its point is a merged-point marker. */
  merged?: boolean;
}

/** A group of staged batches being put together, after seq `after`. */
export interface Assembly {
  after: number;
  group: Member[];
  bytes: number;
  /** The batch after the group was refused (the disk stops once the group is applied). */
  refused?: { seq: number; error: HavenError };
  /**
   * It ended where nothing more was staged, not at a bookmark or a bound: put together while
   * the previous group was written, it goes on once that one is done.
   */
  open: boolean;
}

/**
 * Puts the groups of a drain together: the batches after the watermark in seq order, up to
 * `mergeBatches` / `mergeBytes`, never past a bookmark unless catching up merges past it
 * (catchUp.ts). Reads through the drain's `ReadAhead` without taking (the caller takes a
 * group's batches when it writes them, which lets the read-ahead move on), so a group can be
 * put together while the previous one's page writes are in flight: merging past a bookmark
 * is a Cosmos read and write, and done between groups they left the replica without a page
 * write in flight for 12 % of a drain catching up (bench `rpo`, 10 MB/s of random churn).
 */
export class GroupAssembler {
  constructor(
    private readonly ctx: DrainContext,
    private readonly ahead: ReadAhead<Fetched>,
    private previousBookmarkAt: string | undefined,
  ) {}

  /** Goes on with `a` (a new one: `{ after, group: [], bytes: 0, open: true }`). */
  async assemble(a: Assembly): Promise<Assembly> {
    const { ctx, ahead } = this;
    const { key, opts } = ctx;
    a.open = false;
    for (;;) {
      const s = a.after + a.group.length + 1;
      const f = await ahead.peek(s);
      if (!f.staged) {
        // The end for now: taken, so that asking again reads it again.
        await ahead.take(s);
        a.open = true;
        return a;
      }
      ctx.keeper.check();
      if (f.refused) {
        await ahead.take(s);
        a.refused = { seq: s, error: f.refused };
        return a;
      }
      const b = f.batch!;
      const data = dataBytes(b.header);
      a.group.push({
        seq: s,
        digest: f.digest!,
        bytes: data,
        name: stagingBlobName(key.machineId, key.diskId, key.generation, s),
        ...(f.staged.batch ? { batch: f.staged.batch } : {}),
        decoded: b,
      });
      a.bytes += data;
      const bookmark = b.header.bookmark;
      if (bookmark) {
        const previous = this.previousBookmarkAt;
        this.previousBookmarkAt = bookmark.createdAt;
        if (!(await this.mergePast(bookmark, previous, ahead.peek(s + 1)))) return a;
        a.group[a.group.length - 1]!.merged = true;
      }
      // Not larger while catching up: the merge, digests and index update of a group run on
      // the event loop ingest shares, and 256 MiB groups held it long enough to delay points
      // (RPO p99 7.7 and 10.1 s at 10 MB/s in two of three 3-minute runs; docs/durability.md).
      if (a.group.length >= opts.mergeBatches || a.bytes >= opts.mergeBytes) return a;
    }
  }

  /** Whether the group goes on past this bookmark (catchUp.ts): only with a next batch staged. */
  private async mergePast(
    bookmark: BatchBookmark,
    previousAt: string | undefined,
    next: Promise<Fetched>,
  ): Promise<boolean> {
    const { deps, opts, key } = this.ctx;
    if (!mayMergePast(opts, bookmark, previousAt, deps.clock())) return false;
    const n = await next;
    if (!n.staged || n.refused) return false;
    return dropMergedPoint(deps, key.machineId, bookmark.id);
  }
}

/** Reads, verifies and decodes one staged batch (the read-ahead runs it ahead). */
export async function fetchBatch(ctx: DrainContext, seq: number): Promise<Fetched> {
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
