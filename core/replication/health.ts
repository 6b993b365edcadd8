import { hydrationLag } from './hydrationLag';
import { STAGING, stagingPrefix } from './names';
import type { ReplicationDeps } from './ports';
import type { DiskReplicationDoc, RecoveryPointDoc } from './state';

export interface ReplicationHealth {
  /** now − newest durable point's time (the agent's, never ahead of the server's); absent before the first point. */
  rpoSeconds?: number;
  /**
   * Durable points not materialized yet, and how long the oldest has waited (RTO cost: using it
   * first drives its hydration). A lag that keeps growing means hydration does not keep up
   * (hydrationLag.ts; the policy's `hydrationLagAlertSeconds` raises an alert).
   */
  hydration: { pendingPoints: number; lagSeconds: number };
  /** Bytes applied per second over the last 10 minutes, all disks. */
  churnBytesPerSecond: number;
  /** Staged batches not yet applied (all disks), and their bytes. */
  backlog: { batches: number; bytes: number };
  lastPoint?: { id: string; time: string; consistency: 'crash' | 'app' };
  disks: {
    diskId: string;
    generation: number;
    appliedSeq: number;
    lastAppliedAt?: string;
    stopped?: { reason: string; at: string; seq?: number };
  }[];
  /** Most recent rejections and alerts, newest first. */
  errors: { at: string; kind: string; message: string; diskId?: string }[];
}

/** Replication health of one machine, for the control plane's GET /api/machines/{id}. */
export async function replicationHealth(
  deps: ReplicationDeps,
  machineId: string,
): Promise<ReplicationHealth> {
  const now = deps.clock();
  const [gens, newest, lag, staged, rejections, alerts] = await Promise.all([
    deps.docs.disks.query({ partitionKey: machineId, limit: 1000 }),
    deps.docs.points.query({
      partitionKey: machineId,
      where: [{ field: 'type', op: '=', value: 'point' }],
      orderBy: [{ field: 'time', direction: 'desc' }],
      limit: 1,
    }),
    hydrationLag(deps, machineId),
    deps.blobs.list(STAGING, stagingPrefix(machineId), { max: 10_000 }),
    deps.docs.rejections.query({
      partitionKey: machineId,
      orderBy: [{ field: 'at', direction: 'desc' }],
      limit: 5,
    }),
    deps.docs.alerts.query({
      partitionKey: machineId,
      orderBy: [{ field: 'at', direction: 'desc' }],
      limit: 5,
    }),
  ]);
  const docs = gens.items.map((i) => i.doc);
  // Per disk, the newest generation is the one replicating now.
  const current = new Map<string, DiskReplicationDoc>();
  for (const d of docs) {
    const c = current.get(d.diskId);
    if (!c || d.generation > c.generation) current.set(d.diskId, d);
  }
  const minute = Math.floor(now / 60_000);
  const recentBytes = docs.reduce(
    (n, d) => n + d.churn.filter((c) => c.minute > minute - 10).reduce((m, c) => m + c.bytes, 0),
    0,
  );
  const point = newest.items[0]?.doc as RecoveryPointDoc | undefined;
  const errors = [
    ...rejections.items.map((r) => ({
      at: r.doc.at,
      kind: r.doc.kind,
      message: r.doc.reason,
      ...(r.doc.diskId ? { diskId: r.doc.diskId } : {}),
    })),
    ...alerts.items.map((a) => ({
      at: a.doc.at,
      kind: a.doc.kind,
      message: a.doc.message,
      ...(a.doc.diskId ? { diskId: a.doc.diskId } : {}),
    })),
  ]
    .sort((a, b) => (a.at < b.at ? 1 : -1))
    .slice(0, 5);
  return {
    ...(point
      ? { rpoSeconds: Math.max(0, Math.round((now - Date.parse(point.time)) / 1000)) }
      : {}),
    hydration: { pendingPoints: lag.pendingPoints, lagSeconds: lag.lagSeconds },
    churnBytesPerSecond: Math.round(recentBytes / 600),
    backlog: { batches: staged.length, bytes: staged.reduce((n, s) => n + s.size, 0) },
    ...(point
      ? { lastPoint: { id: point.id, time: point.time, consistency: point.consistency } }
      : {}),
    disks: [...current.values()]
      .sort((a, b) => a.diskId.localeCompare(b.diskId))
      .map((d) => ({
        diskId: d.diskId,
        generation: d.generation,
        appliedSeq: d.appliedSeq,
        ...(d.lastAppliedAt ? { lastAppliedAt: d.lastAppliedAt } : {}),
        ...(d.stopped ? { stopped: d.stopped } : {}),
      })),
    errors,
  };
}

/**
 * The control plane's `health` block of GET /api/machines/{id}, computed live from the data
 * path (RPO, churn, backlog, last point, recent errors) plus per-disk watermarks.
 */
export async function machineHealthView(deps: ReplicationDeps, machineId: string) {
  const h = await replicationHealth(deps, machineId);
  if (h.disks.length === 0 && h.backlog.batches === 0 && !h.lastPoint) {
    // Nothing replicated yet: the control plane's "no data" shape.
    const at = h.errors[0]?.at ?? null;
    return {
      rpoSeconds: null,
      churnBytesPerSecond: null,
      backlogBytes: null,
      lastPoint: null,
      errors: h.errors,
      updatedAt: at,
    };
  }
  return {
    rpoSeconds: h.rpoSeconds ?? null,
    churnBytesPerSecond: h.churnBytesPerSecond,
    backlogBytes: h.backlog.bytes,
    backlogBatches: h.backlog.batches,
    hydration: h.hydration,
    lastPoint: h.lastPoint
      ? { id: h.lastPoint.id, at: h.lastPoint.time, consistency: h.lastPoint.consistency }
      : null,
    errors: h.errors,
    disks: h.disks,
    updatedAt: new Date(deps.clock()).toISOString(),
  };
}
