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

export async function recordRejection(
  deps: ReplicationDeps,
  r: Omit<RejectionDoc, 'id' | 'at'>,
): Promise<RejectionDoc> {
  const doc: RejectionDoc = { ...r, id: randomUUID(), at: iso(deps.clock()) };
  await deps.docs.rejections.create(doc);
  deps.log?.('batch rejected', {
    machineId: r.machineId,
    diskId: r.diskId,
    seq: r.seq,
    kind: r.kind,
    reason: r.reason,
  });
  return doc;
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
 */
export async function stopDisk(
  deps: ReplicationDeps,
  key: { machineId: string; diskId: string; generation: number; diskSize: number; seq?: number },
  kind: ReplicationAlertDoc['kind'],
  reason: string,
  details?: Record<string, unknown>,
): Promise<void> {
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
  await recordAlert(deps, {
    machineId: key.machineId,
    diskId: key.diskId,
    generation: key.generation,
    ...(key.seq !== undefined ? { seq: key.seq } : {}),
    kind,
    severity: 'critical',
    message: reason,
    ...(details ? { details } : {}),
  });
  deps.log?.('replication stopped for disk', {
    machineId: key.machineId,
    diskId: key.diskId,
    reason,
  });
}
