import type { BatchBookmark } from '../batch';
import type { Versioned } from '../documents/ports';
import { HavenError, isHavenError, notFound } from '../errors';
import type { ReplicationDeps } from './ports';
import type { PieceDoc, PointCut, PointDiskPiece, RecoveryPointDoc } from './state';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * How far ahead of the server clock an agent may date a point. A bookmark's time is the agent's
 * clock at the cut: it may be old (cut while the site was offline, sent with the backlog) and
 * that is real data age, so the past is kept. The future is not: a point dated ahead would stay
 * "newest" (failover's `latest`), show RPO 0 and outlive retention for as long as the agent
 * likes. Beyond this skew the server's time wins and the agent's is kept as `agentTime`.
 */
export const MAX_AGENT_CLOCK_AHEAD_MS = 5 * 60_000;

/** A point's time: the agent's bookmark time, at most `MAX_AGENT_CLOCK_AHEAD_MS` past `now`. */
export function pointTime(agentTime: string, now: number): { time: string; agentTime?: string } {
  const limit = now + MAX_AGENT_CLOCK_AHEAD_MS;
  return Date.parse(agentTime) > limit ? { time: iso(limit), agentTime } : { time: agentTime };
}

/** The fields a point takes from its bookmark: one place decides what a point's time is. */
function fromBookmark(
  machineId: string,
  bookmark: BatchBookmark,
  now: number,
): Pick<
  RecoveryPointDoc,
  'id' | 'type' | 'machineId' | 'time' | 'agentTime' | 'consistency' | 'groupId' | 'barrier'
> {
  return {
    id: bookmark.id,
    type: 'point',
    machineId,
    ...pointTime(bookmark.createdAt, now),
    consistency: bookmark.consistency,
    ...(bookmark.groupId ? { groupId: bookmark.groupId } : {}),
    ...(bookmark.barrier ? { barrier: true } : {}),
  };
}

/** Documents of the first schema carry no `materialized`: they were written materialized. */
export function isMaterialized(p: RecoveryPointDoc): boolean {
  return p.materialized !== false;
}

/**
 * Records a point that just became durable (ingest: every protected disk has the bookmark's
 * batch stored). Returns false when the point exists already (hydrate materialized it first, or
 * a retry): creation is the only write, so the first writer wins and nothing is overwritten.
 */
export async function createDurablePoint(
  deps: ReplicationDeps,
  machineId: string,
  bookmark: BatchBookmark,
  cuts: PointCut[],
): Promise<boolean> {
  const at = deps.clock();
  const now = iso(at);
  const doc: RecoveryPointDoc = {
    ...fromBookmark(machineId, bookmark, at),
    generation: Math.max(...cuts.map((c) => c.generation)),
    disks: [],
    cuts: [...cuts].sort((a, z) => a.diskId.localeCompare(z.diskId)),
    publishedAt: now,
    durableAt: now,
    materialized: false,
  };
  try {
    await deps.docs.points.create(doc);
  } catch (e) {
    if (isHavenError(e) && e.kind === 'conflict') return false;
    throw e;
  }
  deps.log?.('recovery point durable', {
    machineId,
    pointId: bookmark.id,
    ...(doc.agentTime ? { agentClockAhead: doc.agentTime } : {}),
  });
  return true;
}

async function piecesOf(
  deps: ReplicationDeps,
  machineId: string,
  pointId: string,
): Promise<PieceDoc[]> {
  const page = await deps.docs.points.query({
    partitionKey: machineId,
    where: [
      { field: 'type', op: '=', value: 'piece' },
      { field: 'pointId', op: '=', value: pointId },
    ],
    limit: 1000,
  });
  return page.items.map((i) => i.doc as PieceDoc);
}

/**
 * Materializes the point once every protected disk of the machine has its piece (a snapshot at
 * the bookmark). Every disk hydrator calls it after recording its own piece; the last one sees
 * them all. The durable point ingest created gets its snapshots and `materializedAt`; when
 * hydrate got there first (ingest's invocation has not finished), the point is created durable
 * and materialized at once. Concurrent writers are resolved by ETag / create-once: the result
 * is the same document whoever wins.
 */
export async function materializePoint(
  deps: ReplicationDeps,
  machineId: string,
  pointId: string,
): Promise<RecoveryPointDoc | undefined> {
  const existing = await deps.docs.points.get(machineId, pointId);
  if (existing?.doc.type === 'point' && isMaterialized(existing.doc)) return existing.doc;
  const machine = await deps.machines.getMachine(machineId);
  if (!machine) return undefined;
  const protectedDisks = machine.disks.filter((d) => d.protected).map((d) => d.diskId);
  if (protectedDisks.length === 0) return undefined;
  const pieces = await piecesOf(deps, machineId, pointId);
  const byDisk = new Map(pieces.map((p) => [p.diskId, p]));
  if (!protectedDisks.every((d) => byDisk.has(d))) return undefined;
  const chosen = protectedDisks.sort().map((d) => byDisk.get(d)!);
  const disks = chosen.map((p): PointDiskPiece => ({
    diskId: p.diskId,
    generation: p.generation,
    seq: p.seq,
    blob: p.blob,
    snapshot: p.snapshot,
    sha256: p.sha256,
    sizeBytes: p.sizeBytes,
    changes: p.changes,
    changedBlocks: p.changedBlocks,
  }));
  const cuts = chosen.map((p) => ({
    diskId: p.diskId,
    generation: p.generation,
    seq: p.seq,
    sizeBytes: p.sizeBytes,
  }));
  for (let current = existing; ;) {
    // Merged past on some disk (catchUp.ts): it has no snapshot there, whatever pieces exist.
    if (current?.doc.type === 'merged-point') return undefined;
    const at = deps.clock();
    const now = iso(at);
    try {
      if (current?.doc.type === 'point') {
        if (isMaterialized(current.doc)) return current.doc;
        const doc: RecoveryPointDoc = {
          ...current.doc,
          disks,
          materialized: true,
          materializedAt: now,
        };
        await deps.docs.points.replace(doc, { ifMatch: current.etag });
        deps.log?.('recovery point materialized', { machineId, pointId, disks: disks.length });
        return doc;
      }
      const doc: RecoveryPointDoc = {
        ...fromBookmark(machineId, chosen[0]!.bookmark, at),
        generation: Math.max(...chosen.map((p) => p.generation)),
        disks,
        cuts,
        publishedAt: now,
        durableAt: now,
        materialized: true,
        materializedAt: now,
      };
      await deps.docs.points.create(doc);
      deps.log?.('recovery point published', { machineId, pointId, disks: disks.length });
      return doc;
    } catch (e) {
      if (!(isHavenError(e) && (e.kind === 'conflict' || e.kind === 'precondition'))) throw e;
      current = await deps.docs.points.get(machineId, pointId);
    }
  }
}

/** A machine's point document and its ETag; `not-found` until the point is durable (published). */
export async function pointDocOf(
  deps: ReplicationDeps,
  machineId: string,
  pointId: string,
): Promise<Versioned<RecoveryPointDoc>> {
  const found = await deps.docs.points.get(machineId, pointId);
  if (found?.doc.type === 'merged-point') {
    throw new HavenError(
      'not-found',
      `Recovery point '${pointId}' was merged into a later one while hydration caught up; choose another point.`,
      { id: pointId },
    );
  }
  if (!found || found.doc.type !== 'point') throw notFound('Recovery point', pointId);
  return { ...found, doc: found.doc };
}
