import type { BatchBookmark } from '../batch';
import { isHavenError } from '../errors';
import { STAGING, stagingPrefix } from './names';
import { createDurablePoint } from './pointDocs';
import type { ReplicationDeps } from './ports';
import { diskDocId, type PointCut, type StagedFrontierDoc } from './state';
import type { Versioned } from '../documents/ports';

/** A batch ingest has verified and stored (staged now, or found staged / applied already). */
export interface StoredBatch {
  machineId: string;
  diskId: string;
  generation: number;
  seq: number;
  /** Known when ingest read the header (a redelivery whose claim blob is gone has none). */
  bookmark?: BatchBookmark;
  /** The disk's size (header), known with the bookmark. */
  diskSize?: number;
}

/** Out-of-order seqs a frontier remembers; beyond that a gap is resolved by listing staging. */
const MAX_AHEAD = 4096;
/** Bookmarks a disk keeps waiting for the other disks (a bookmark no other disk has ages out). */
const MAX_WAITING_BOOKMARKS = 1000;
const ATTEMPTS = 5;

export const frontierDocId = (diskId: string, generation: number) => diskDocId(diskId, generation);

/**
 * Moves each touched disk's staged frontier (the dense prefix of its batch stream that Azure
 * holds) and creates the recovery points that became durable: every protected disk of the
 * machine has the bookmark's batch at or below its frontier. From then on the point survives
 * the loss of the site; hydration only materializes it. Runs once per ingest invocation, after
 * its batches are stored; idempotent (a retry after a crash recomputes the same frontier and
 * finds the points created), so a crash between staging and here loses nothing: the events are
 * delivered again and come back as duplicates. Returns the ids of points created now.
 */
export async function recordDurability(
  deps: ReplicationDeps,
  batches: readonly StoredBatch[],
): Promise<string[]> {
  const byMachine = new Map<string, StoredBatch[]>();
  for (const b of batches) {
    let list = byMachine.get(b.machineId);
    if (!list) byMachine.set(b.machineId, (list = []));
    list.push(b);
  }
  const created: string[] = [];
  for (const [machineId, list] of byMachine) {
    for (let attempt = 1; ; attempt++) {
      try {
        created.push(...(await advanceMachine(deps, machineId, list)));
        break;
      } catch (e) {
        // Two invocations on one machine's partition (a rebalance): recompute from fresh reads.
        const raced = isHavenError(e) && (e.kind === 'precondition' || e.kind === 'conflict');
        if (!raced || attempt >= ATTEMPTS) throw e;
      }
    }
  }
  return created;
}

async function advanceMachine(
  deps: ReplicationDeps,
  machineId: string,
  batches: readonly StoredBatch[],
): Promise<string[]> {
  const [machine, page] = await Promise.all([
    deps.machines.getMachine(machineId),
    deps.docs.frontiers.query({ partitionKey: machineId, limit: 1000 }),
  ]);
  if (!machine) return [];
  const docs = new Map<string, Versioned<StagedFrontierDoc> | { doc: StagedFrontierDoc }>(
    page.items.map((i) => [i.doc.id, i]),
  );
  const changed = new Set<string>();
  const now = new Date(deps.clock()).toISOString();
  // Hydrate watermarks: read when first needed, again after a listing (hydrate moves on).
  let watermarks: Promise<Map<string, number>> | undefined;
  const applied = async (fresh = false) => {
    if (!watermarks || fresh) watermarks = hydrateWatermarks(deps, machineId);
    return watermarks;
  };

  const perDisk = new Map<string, StoredBatch[]>();
  for (const b of batches) {
    const id = frontierDocId(b.diskId, b.generation);
    let list = perDisk.get(id);
    if (!list) perDisk.set(id, (list = []));
    list.push(b);
  }
  for (const [id, list] of perDisk) {
    const first = list[0]!;
    const doc: StagedFrontierDoc = structuredClone(docs.get(id)?.doc) ?? {
      id,
      type: 'staged-frontier',
      machineId,
      diskId: first.diskId,
      generation: first.generation,
      stagedSeq: 0,
      ahead: [],
      bookmarks: [],
      updatedAt: now,
    };
    for (const b of list) {
      if (b.bookmark && !doc.bookmarks.some((x) => x.bookmark.id === b.bookmark!.id))
        doc.bookmarks.push({ seq: b.seq, sizeBytes: b.diskSize ?? 0, bookmark: b.bookmark });
    }
    doc.bookmarks.sort((a, z) => a.seq - z.seq);
    if (doc.bookmarks.length > MAX_WAITING_BOOKMARKS)
      doc.bookmarks.splice(0, doc.bookmarks.length - MAX_WAITING_BOOKMARKS);
    await advanceFrontier(
      deps,
      doc,
      list.map((b) => b.seq),
      applied,
    );
    // Dated from when this seq was first waited for: a frontier that moves on to a new gap
    // starts a new wait.
    if (!doc.ahead.length) delete doc.gap;
    else if (doc.gap?.seq !== doc.stagedSeq + 1) doc.gap = { seq: doc.stagedSeq + 1, since: now };
    doc.updatedAt = now;
    docs.set(id, { ...docs.get(id), doc });
    changed.add(id);
  }

  // A bookmark is durable when every protected disk holds it at or below its frontier (in
  // whichever generation the agent cut it).
  const protectedDisks = machine.disks.filter((d) => d.protected).map((d) => d.diskId);
  const covered = (diskId: string, pointId: string): PointCut | undefined => {
    for (const { doc } of docs.values()) {
      if (doc.diskId !== diskId) continue;
      const b = doc.bookmarks.find((x) => x.bookmark.id === pointId);
      if (b && b.seq <= doc.stagedSeq)
        return { diskId, generation: doc.generation, seq: b.seq, sizeBytes: b.sizeBytes };
    }
    return undefined;
  };
  const candidates = new Map<string, BatchBookmark>();
  for (const { doc } of docs.values())
    for (const b of doc.bookmarks)
      if (b.seq <= doc.stagedSeq) candidates.set(b.bookmark.id, b.bookmark);
  const durable: { bookmark: BatchBookmark; cuts: PointCut[] }[] = [];
  if (protectedDisks.length > 0) {
    for (const [id, bookmark] of candidates) {
      const cuts = protectedDisks.map((d) => covered(d, id));
      if (cuts.every((c) => c !== undefined)) durable.push({ bookmark, cuts: cuts as PointCut[] });
    }
  }
  const created: string[] = [];
  const marks = durable.length ? await applied() : new Map<string, number>();
  for (const p of durable) {
    // Hydrate passed the bookmark on every disk: the point is (or was, before retention
    // dropped it) hydrate's to publish. A late redelivery must not bring it back.
    const hydrated = p.cuts.every(
      (c) => (marks.get(frontierDocId(c.diskId, c.generation)) ?? 0) >= c.seq,
    );
    if (hydrated) continue;
    if (await createDurablePoint(deps, machineId, p.bookmark, p.cuts)) created.push(p.bookmark.id);
  }
  // Settled bookmarks leave the waiting lists, and so do older ones on the same disk: bookmarks
  // are cut in the same order on every disk, so one that is older than a durable point and not
  // durable itself lacks a disk and never will be.
  for (const [id, entry] of docs) {
    const doc = entry.doc;
    const settled = Math.max(
      0,
      ...doc.bookmarks
        .filter((b) => durable.some((p) => p.bookmark.id === b.bookmark.id))
        .map((b) => b.seq),
    );
    if (settled === 0) continue;
    doc.bookmarks = doc.bookmarks.filter((b) => b.seq > settled);
    doc.updatedAt = now;
    changed.add(id);
  }
  for (const id of changed) {
    const entry = docs.get(id)!;
    if ('etag' in entry) await deps.docs.frontiers.replace(entry.doc, { ifMatch: entry.etag });
    else await deps.docs.frontiers.create(entry.doc);
  }
  return created;
}

/**
 * Advances `doc.stagedSeq` over `seqs` and what it remembered ahead. Below the hydrate
 * watermark everything is stored (applied; its staged blob may be gone). A gap that stays is
 * checked against staging itself once: a batch staged by an invocation that died before
 * recording it (its events are redelivered, but maybe after later ones) is found there.
 */
async function advanceFrontier(
  deps: ReplicationDeps,
  doc: StagedFrontierDoc,
  seqs: readonly number[],
  watermarks: (fresh?: boolean) => Promise<Map<string, number>>,
): Promise<void> {
  const ahead = new Set([...doc.ahead, ...seqs]);
  const settle = (floor: number) => {
    let f = Math.max(doc.stagedSeq, floor);
    while (ahead.has(f + 1)) f++;
    doc.stagedSeq = f;
    for (const s of ahead) if (s <= f) ahead.delete(s);
  };
  const applied = async (fresh?: boolean) =>
    (await watermarks(fresh)).get(frontierDocId(doc.diskId, doc.generation)) ?? 0;
  settle(0);
  if (ahead.size > 0) {
    settle(await applied());
    if (ahead.size > 0) {
      const prefix = stagingPrefix(doc.machineId, doc.diskId, doc.generation);
      for (const item of await deps.blobs.list(STAGING, prefix)) {
        const seq = Number(item.name.slice(prefix.length));
        if (Number.isSafeInteger(seq) && seq > doc.stagedSeq) ahead.add(seq);
      }
      settle(await applied(true));
    }
  }
  doc.ahead = [...ahead].sort((a, z) => a - z).slice(0, MAX_AHEAD);
}

/** appliedSeq of every (disk, generation) of the machine, by frontier id. */
async function hydrateWatermarks(
  deps: ReplicationDeps,
  machineId: string,
): Promise<Map<string, number>> {
  const page = await deps.docs.disks.query({ partitionKey: machineId, limit: 1000 });
  return new Map(
    page.items.map((i) => [frontierDocId(i.doc.diskId, i.doc.generation), i.doc.appliedSeq]),
  );
}
