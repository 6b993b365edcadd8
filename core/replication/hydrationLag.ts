import type { ReplicationDeps } from './ports';
import type { RecoveryPointDoc } from './state';

/**
 * How far materialization is behind durability: the durable points not materialized yet that
 * are newer than the newest materialized one, and how long the oldest of them has waited since
 * it became durable. A failover or restore to one of them waits for (drives) its hydration
 * first, so this is RTO the machine carries now; a lag that keeps growing means hydration does
 * not keep up with the machine's writes. Unmaterialized points older than a materialized one
 * are not lag: hydration has moved past them (merged into a later point while catching up, or a
 * resync superseded their generation) and they never will be materialized.
 */
export interface HydrationLag {
  pendingPoints: number;
  lagSeconds: number;
  /** The oldest pending point. */
  oldest?: RecoveryPointDoc;
}

const durableSince = (p: RecoveryPointDoc) => Date.parse(p.durableAt ?? p.publishedAt);

export async function hydrationLag(
  deps: ReplicationDeps,
  machineId: string,
): Promise<HydrationLag> {
  const points = (materialized: boolean) =>
    deps.docs.points.query({
      partitionKey: machineId,
      where: [
        { field: 'type', op: '=', value: 'point' },
        { field: 'materialized', op: '=', value: materialized },
      ],
      ...(materialized ? { orderBy: [{ field: 'time', direction: 'desc' as const }] } : {}),
      limit: materialized ? 1 : 1000,
    });
  const [waiting, done] = await Promise.all([points(false), points(true)]);
  const newest = done.items[0] ? Date.parse((done.items[0].doc as RecoveryPointDoc).time) : -1;
  const pending = waiting.items
    .map((i) => i.doc as RecoveryPointDoc)
    .filter((p) => Date.parse(p.time) > newest);
  let oldest: RecoveryPointDoc | undefined;
  for (const p of pending) if (!oldest || durableSince(p) < durableSince(oldest)) oldest = p;
  const waited = oldest ? (deps.clock() - durableSince(oldest)) / 1000 : 0;
  return {
    pendingPoints: pending.length,
    lagSeconds: Math.max(0, Math.round(waited)),
    ...(oldest ? { oldest } : {}),
  };
}
