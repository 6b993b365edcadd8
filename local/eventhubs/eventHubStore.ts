import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { notFound } from './emulatorError';
import type { EventHubDefinition } from './emulatorOptions';
import { PartitionLog } from './partitionLog';

export interface Hub {
  def: EventHubDefinition;
  createdAt: Date;
  partitions: PartitionLog[];
  consumerGroups: Set<string>; // lower case
  roundRobin: number;
}

/** Stable partition for a partition key (FNV-1a over UTF-8). */
export function partitionForKey(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}

/** The namespace's hubs and their partition logs under `dataDir/<hub>/<partition>`. */
export class EventHubStore {
  private readonly hubs = new Map<string, Hub>();

  /** `host` only names entities in not-found errors, as the service does. */
  constructor(
    private readonly host: string,
    dataDir: string,
    defs: EventHubDefinition[],
    segmentBytes: number | undefined,
  ) {
    mkdirSync(dataDir, { recursive: true });
    for (const def of defs) {
      const dir = join(dataDir, def.name);
      mkdirSync(dir, { recursive: true });
      const metaPath = join(dir, 'hub.json');
      let createdAt = new Date();
      if (existsSync(metaPath)) {
        createdAt = new Date(
          (JSON.parse(readFileSync(metaPath, 'utf8')) as { createdAt: string }).createdAt,
        );
      } else {
        writeFileSync(metaPath, JSON.stringify({ createdAt: createdAt.toISOString() }));
      }
      const partitions: PartitionLog[] = [];
      for (let i = 0; i < def.partitions; i++) {
        partitions.push(PartitionLog.open(join(dir, String(i)), { segmentBytes }));
      }
      this.hubs.set(def.name.toLowerCase(), {
        def,
        createdAt,
        partitions,
        consumerGroups: new Set([
          '$default',
          ...(def.consumerGroups ?? []).map((c) => c.toLowerCase()),
        ]),
        roundRobin: 0,
      });
    }
  }

  hub(name: string): Hub {
    const hub = this.hubs.get(name.toLowerCase());
    if (!hub) throw notFound(`sb://${this.host}/${name}`);
    return hub;
  }

  partition(hub: Hub, id: string | undefined): PartitionLog {
    const n = id !== undefined && /^\d+$/.test(id) ? Number(id) : -1;
    const p = hub.partitions[n];
    if (!p) throw notFound(`sb://${this.host}/${hub.def.name}/Partitions/${id}`);
    return p;
  }

  /** Throws not-found for audiences naming a hub, consumer group or partition that doesn't exist. */
  checkEntity(path: string[]): void {
    const hub = this.hub(path[0]!);
    if (path[1] === 'consumergroups') {
      if (!path[2] || !hub.consumerGroups.has(path[2])) {
        throw notFound(`sb://${this.host}/${hub.def.name}/ConsumerGroups/${path[2] ?? ''}`);
      }
      if (path[3] === 'partitions') this.partition(hub, path[4]);
    } else if (path[1] === 'partitions') {
      this.partition(hub, path[2]);
    }
  }

  /** Drops whole segments older than each hub's retention. */
  trim(): void {
    for (const hub of this.hubs.values()) {
      const cutoff = Date.now() - (hub.def.retentionHours ?? 24) * 3600_000;
      for (const p of hub.partitions) p.trim(cutoff);
    }
  }

  async close(): Promise<void> {
    for (const hub of this.hubs.values()) await Promise.all(hub.partitions.map((p) => p.close()));
  }
}
