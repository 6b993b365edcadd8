import { randomUUID } from 'node:crypto';
import { precondition, HavenError } from '../errors';
import type { ReplicationDeps } from './ports';
import {
  diskDocId,
  type DiskReplicationDoc,
  type RejectionDoc,
  type ReplicationAlertDoc,
} from './state';

const iso = (ms: number) => new Date(ms).toISOString();

/** A fresh watermark document for (disk, generation). */
export function newDiskDoc(
  machineId: string,
  diskId: string,
  generation: number,
  diskSize: number,
  now: number,
): DiskReplicationDoc {
  return {
    id: diskDocId(diskId, generation),
    type: 'disk-generation',
    machineId,
    diskId,
    generation,
    diskSize,
    appliedSeq: 0,
    recent: [],
    batchesApplied: 0,
    bytesApplied: 0,
    churn: [],
    createdAt: iso(now),
    updatedAt: iso(now),
  };
}

/**
 * Rejections are bounded per machine (and for `unknown`, events naming no machine): at most
 * `REJECTIONS_PER_MINUTE` are recorded a minute (beyond that they are only logged), the
 * retention timer keeps the newest `REJECTIONS_KEPT` (`pruneRejections`), and each expires after
 * `REJECTION_TTL_SECONDS`. A flood of bad batches from one machine cannot grow the store.
 */
export const REJECTIONS_PER_MINUTE = 30;
export const REJECTIONS_KEPT = 100;
export const REJECTION_TTL_SECONDS = 14 * 24 * 3600;

export async function recordRejection(
  deps: ReplicationDeps,
  r: Omit<RejectionDoc, 'id' | 'at' | 'expiresAt' | 'ttl'>,
): Promise<RejectionDoc> {
  const now = deps.clock();
  const doc: RejectionDoc = {
    ...r,
    id: randomUUID(),
    at: iso(now),
    expiresAt: now + REJECTION_TTL_SECONDS * 1000,
    ttl: REJECTION_TTL_SECONDS,
  };
  const recent = await deps.docs.rejections.query({
    partitionKey: r.machineId,
    where: [{ field: 'at', op: '>', value: iso(now - 60_000) }],
    orderBy: [{ field: 'at', direction: 'desc' }],
    limit: REJECTIONS_PER_MINUTE,
  });
  const limited = recent.items.length >= REJECTIONS_PER_MINUTE;
  if (!limited) await deps.docs.rejections.create(doc);
  deps.log?.(limited ? 'batch rejected (not recorded: rate limit)' : 'batch rejected', {
    machineId: r.machineId,
    diskId: r.diskId,
    seq: r.seq,
    kind: r.kind,
    reason: r.reason,
  });
  return doc;
}

/** Deletes a machine's rejections beyond the newest `keep` (the retention timer runs it). */
export async function pruneRejections(
  deps: ReplicationDeps,
  machineId: string,
  keep = REJECTIONS_KEPT,
): Promise<number> {
  const newest = await deps.docs.rejections.query({
    partitionKey: machineId,
    orderBy: [{ field: 'at', direction: 'desc' }],
    limit: keep,
  });
  let continuation = newest.continuation;
  let deleted = 0;
  while (continuation) {
    const page = await deps.docs.rejections.query({
      partitionKey: machineId,
      orderBy: [{ field: 'at', direction: 'desc' }],
      limit: 1000,
      continuation,
    });
    for (const { doc } of page.items) {
      await deps.docs.rejections.delete(machineId, doc.id);
      deleted++;
    }
    continuation = page.continuation;
  }
  return deleted;
}

export async function recordAlert(
  deps: ReplicationDeps,
  a: Omit<ReplicationAlertDoc, 'id' | 'at'>,
): Promise<void> {
  await deps.docs.alerts.create({ ...a, id: randomUUID(), at: iso(deps.clock()) });
}

/**
 * Stops (disk, generation): nothing more is staged or applied until an operator resyncs
 * (a new generation). Raises a critical alert. Safe to call repeatedly.
 *
 * The alert is written first: a stopped disk is never looked at again by hydrate (it returns
 * `stopped` at once), so a crash between the two writes in the other order would leave a disk
 * stopped with no alert for ever. In this order a crash leaves an alert and a disk still
 * running, whose next hydrate refuses the same batch and stops it.
 */
export async function stopDisk(
  deps: ReplicationDeps,
  key: { machineId: string; diskId: string; generation: number; diskSize: number; seq?: number },
  kind: ReplicationAlertDoc['kind'],
  reason: string,
  details?: Record<string, unknown>,
): Promise<void> {
  // One alert per stop, by id: every later bad batch of the stopped disk calls this again (a
  // flood of them must not add a document each), and a retry after a crash still records it.
  await deps.docs.alerts
    .create({
      machineId: key.machineId,
      diskId: key.diskId,
      generation: key.generation,
      ...(key.seq !== undefined ? { seq: key.seq } : {}),
      kind,
      severity: 'critical',
      message: reason,
      ...(details ? { details } : {}),
      id: `stopped-${key.diskId}-g${key.generation}`,
      at: iso(deps.clock()),
    })
    .catch((e: unknown) => {
      if (!(e instanceof HavenError && e.kind === 'conflict')) throw e;
    });
  for (let attempt = 0; ; attempt++) {
    const cur = await deps.docs.disks.get(key.machineId, diskDocId(key.diskId, key.generation));
    const doc =
      cur?.doc ?? newDiskDoc(key.machineId, key.diskId, key.generation, key.diskSize, deps.clock());
    if (doc.stopped) break;
    doc.stopped = {
      reason,
      at: iso(deps.clock()),
      ...(key.seq !== undefined ? { seq: key.seq } : {}),
    };
    doc.updatedAt = iso(deps.clock());
    try {
      if (cur) await deps.docs.disks.replace(doc, { ifMatch: cur.etag });
      else await deps.docs.disks.create(doc);
      break;
    } catch (e) {
      const retry = e instanceof HavenError && (e.kind === 'precondition' || e.kind === 'conflict');
      if (!retry || attempt > 10) throw e instanceof HavenError && retry ? precondition() : e;
    }
  }
  deps.log?.('replication stopped for disk', {
    machineId: key.machineId,
    diskId: key.diskId,
    reason,
  });
}
