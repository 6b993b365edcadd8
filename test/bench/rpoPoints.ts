import { CosmosClient } from '@azure/cosmos';
import { adminApi } from '../support/adminApi';
import type { Stack } from './rpoStack';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PointSeen {
  id: string;
  time: number;
  seenAt: number;
  materialized: boolean;
  durableAt?: number;
  materializedAt?: number;
}

/** Polls the points list (what a user sees), noting when each point first appeared. */
export class PointWatcher {
  readonly points = new Map<string, PointSeen>();
  private stopped = false;
  private loop?: Promise<void>;
  constructor(
    private readonly stack: Stack,
    private readonly machineId: string,
  ) {}
  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          const page = await adminApi<{
            items: Array<{ id: string; time: string; materialized: boolean }>;
          }>(this.stack, 'GET', `machines/${this.machineId}/recovery-points?limit=100`);
          const now = Date.now();
          for (const p of page.items) {
            const seen = this.points.get(p.id);
            if (!seen)
              this.points.set(p.id, {
                id: p.id,
                time: Date.parse(p.time),
                seenAt: now,
                materialized: p.materialized,
              });
            else seen.materialized = p.materialized;
          }
        } catch {
          /* the host is busy; try again */
        }
        await sleep(200);
      }
    })();
  }
  /** Newest point (by bookmark time). */
  latest(): PointSeen | undefined {
    let best: PointSeen | undefined;
    for (const p of this.points.values()) if (!best || p.time > best.time) best = p;
    return best;
  }
  /** A point whose bookmark is after `t` (with `materialized`: one that is hydrated too). */
  async waitCovering(
    t: number,
    timeoutMs: number,
    materialized = false,
  ): Promise<PointSeen | undefined> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      // New (idle) bookmarks keep coming: any point after `t` that is far enough will do.
      for (const p of this.points.values())
        if (p.time > t && (!materialized || p.materialized)) return p;
      await sleep(100);
    }
    return undefined;
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

/** When each point of the machine became durable and materialized, from the cloud's own documents. */
export async function pointTimes(
  stack: Stack,
  machineId: string,
): Promise<Map<string, { durableAt: number; materializedAt?: number }>> {
  const client = new CosmosClient({
    endpoint: stack.env.HAVEN_COSMOS_ENDPOINT!,
    key: stack.env.HAVEN_COSMOS_KEY!,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  const out = new Map<string, { durableAt: number; materializedAt?: number }>();
  try {
    const db = client.database('haven');
    const { resources: containers } = await db.containers.readAll().fetchAll();
    for (const c of containers) {
      const { resources } = await db
        .container(c.id)
        .items.query<{
          id: string;
          publishedAt: string;
          durableAt?: string;
          materializedAt?: string;
        }>({
          query:
            "SELECT c.id, c.publishedAt, c.durableAt, c.materializedAt FROM c WHERE c.type = 'point' AND c.machineId = @m AND IS_DEFINED(c.publishedAt)",
          parameters: [{ name: '@m', value: machineId }],
        })
        .fetchAll();
      for (const r of resources)
        out.set(r.id, {
          durableAt: Date.parse(r.durableAt ?? r.publishedAt),
          ...(r.materializedAt ? { materializedAt: Date.parse(r.materializedAt) } : {}),
        });
    }
  } finally {
    client.dispose();
  }
  return out;
}

/** A point as the report reads it: when it became durable and when hydration reached it. */
export interface TimedPoint extends PointSeen {
  publishedAt: number;
  /** Seen durable, gone since: merged into a later point by a hydrator catching up. */
  merged: boolean;
  hydratedAt?: number;
}
