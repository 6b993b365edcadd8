import { pinPoint } from './catchUp';
import { liveGeneration } from './generations';
import { drainDisk } from './hydrate';
import { isMaterialized, materializePoint, pointDocOf } from './pointDocs';
import type { ProtectionSignals, ReplicationDeps, ReplicationOptions } from './ports';
import { toApi, type RecoveryPoint } from './recoveryPointApi';
import type { DiskReplicationDoc, PointCut, RecoveryPointDoc } from './state';

/**
 * Where a point stands on its way from durable to materialized. `pending`: some disk's hydration
 * has not reached the bookmark yet (`disks` says how far each is); `failed`: it never will (a
 * disk stopped on an integrity incident before the bookmark, or a resync superseded its
 * generation): choose another point.
 */
export interface Materialization {
  machineId: string;
  pointId: string;
  state: 'materialized' | 'pending' | 'failed';
  point: RecoveryPoint;
  disks: { diskId: string; generation: number; seq: number; appliedSeq: number }[];
  reason?: string;
}

const MERGED =
  'hydration was catching up and merged this point into a later one: choose another point';

/**
 * One round of driving a durable point to materialized: each disk that has not reached the
 * bookmark is drained (in this process, under the replica lease, exactly as the blob trigger
 * would; a disk another hydrator is draining answers busy and is left to it), then the point is
 * read again. Idempotent and safe to call from anywhere, any number of times: the failover
 * sagas call it (through `waitMaterialized` or one activity per round) before they use a point.
 */
export async function materializeUpTo(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  machineId: string,
  pointId: string,
  signals?: ProtectionSignals,
  /** Someone waits for this point (not the sweep): a hydrator catching up must not merge past it. */
  pin = true,
): Promise<Materialization> {
  const found = await pointDocOf(deps, machineId, pointId);
  let doc: RecoveryPointDoc = found.doc;
  if (isMaterialized(doc)) return report(doc, 'materialized', []);
  if (pin && !(await pinPoint(deps, machineId, pointId))) {
    return report(doc, 'failed', [], MERGED);
  }
  const cuts = doc.cuts ?? [];
  const before = await watermarks(deps, machineId);
  const behind = cuts.filter((c) => appliedOf(before, c) < c.seq);
  await Promise.all(
    behind.map((c) =>
      drainDisk(
        deps,
        opts,
        { machineId, diskId: c.diskId, generation: c.generation },
        signals,
      ).catch((e: unknown) => {
        // A lost race for the lease or a storage hiccup: the next round tries again.
        deps.log?.('materialize: drain failed', { machineId, diskId: c.diskId, error: String(e) });
      }),
    ),
  );
  const after = await watermarks(deps, machineId);
  const disks = cuts.map((c) => ({ ...c, appliedSeq: appliedOf(after, c) }));
  if (disks.every((d) => d.appliedSeq >= d.seq)) {
    // Every disk has its piece; the last hydrator may have died before recording the snapshots.
    doc = (await materializePoint(deps, machineId, pointId)) ?? doc;
    if (isMaterialized(doc)) return report(doc, 'materialized', disks);
  }
  for (const d of disks) {
    if (d.appliedSeq >= d.seq) continue;
    const gens = after.filter((g) => g.diskId === d.diskId);
    const mine = gens.find((g) => g.generation === d.generation);
    if (mine?.stopped) {
      return report(
        doc,
        'failed',
        disks,
        `disk ${d.diskId} stopped before the bookmark: ${mine.stopped.reason}`,
      );
    }
    if (liveGeneration(gens) > d.generation) {
      return report(
        doc,
        'failed',
        disks,
        `disk ${d.diskId} was resynced into a newer generation before the bookmark hydrated`,
      );
    }
  }
  return report(doc, 'pending', disks);

  function report(
    p: RecoveryPointDoc,
    state: Materialization['state'],
    ds: Materialization['disks'],
    reason?: string,
  ): Materialization {
    return { machineId, pointId, state, point: toApi(p), disks: ds, ...(reason ? { reason } : {}) };
  }
}

/**
 * Drives and waits until the point is materialized or failed, or `timeoutMs` passed (then the
 * answer is `pending`: RTO is growing, the caller decides). Rounds are `pollMs` apart, so
 * another hydrator's progress is seen without hammering storage.
 */
export async function waitMaterialized(
  deps: ReplicationDeps,
  opts: ReplicationOptions,
  machineId: string,
  pointId: string,
  o: { timeoutMs: number; pollMs?: number; signals?: ProtectionSignals },
): Promise<Materialization> {
  const until = Date.now() + o.timeoutMs;
  for (;;) {
    const m = await materializeUpTo(deps, opts, machineId, pointId, o.signals);
    if (m.state !== 'pending' || Date.now() >= until) return m;
    await new Promise((r) =>
      setTimeout(r, Math.min(o.pollMs ?? 250, Math.max(0, until - Date.now()))),
    );
  }
}

async function watermarks(deps: ReplicationDeps, machineId: string): Promise<DiskReplicationDoc[]> {
  const page = await deps.docs.disks.query({ partitionKey: machineId, limit: 1000 });
  return page.items.map((i) => i.doc);
}

function appliedOf(docs: readonly DiskReplicationDoc[], c: PointCut): number {
  return docs.find((d) => d.diskId === c.diskId && d.generation === c.generation)?.appliedSeq ?? 0;
}
