import { CosmosClient, type ContainerDefinition } from '@azure/cosmos';
import { createHttpServer } from '@vercel/cosmosdb-server';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { COSMOS_EMULATOR_KEY, type RunningCosmos } from './cosmos';

export interface PersistentCosmosOptions {
  /** Directory for `snapshot.json`; omit for a purely in-memory emulator. */
  dir?: string;
  port?: number;
  /** Longest time between a write and the snapshot that contains it. */
  snapshotDelayMs?: number;
}

interface Snapshot {
  version: 1;
  savedAt: string;
  databases: {
    id: string;
    containers: { definition: ContainerDefinition; items: Record<string, unknown>[] }[];
  }[];
}

const SYSTEM_FIELDS = ['_rid', '_self', '_etag', '_attachments', '_ts'];

export interface PersistentCosmos extends RunningCosmos {
  /** Writes the snapshot now if anything changed (also done shortly after writes, and at stop). */
  flush(): Promise<void>;
}

/**
 * @vercel/cosmosdb-server keeps everything in memory. This wraps it with persistence that only
 * uses its public REST surface (through @azure/cosmos), so it does not depend on the server's
 * internals: every completed write marks the state dirty; a snapshot of databases, container
 * definitions and items goes to `snapshot.json` (atomically, write + rename) about
 * `snapshotDelayMs` after a write, and a final one at stop; a start replays the snapshot.
 * System fields (_etag, _ts, _rid) are regenerated on reload, as after a restore; a hard kill
 * loses roughly the last `snapshotDelayMs` of writes.
 */
export async function startPersistentCosmos(
  opts: PersistentCosmosOptions = {},
): Promise<PersistentCosmos> {
  const server = createHttpServer();
  let dirty = false;
  let timer: NodeJS.Timeout | undefined;
  let saving: Promise<void> | undefined;
  const file = opts.dir ? join(opts.dir, 'snapshot.json') : undefined;
  const delayMs = opts.snapshotDelayMs ?? 500;

  server.on('request', (req, res) => {
    if (!file || req.method === 'GET' || req.method === 'HEAD') return;
    const isQuery = String(req.headers['x-ms-documentdb-isquery'] ?? '').toLowerCase() === 'true';
    if (isQuery || req.headers['x-ms-cosmos-is-query-plan-request']) return;
    res.once('finish', () => {
      if (res.statusCode >= 400) return;
      dirty = true;
      // A throttle, not a debounce: a steady stream of writes still gets snapshots.
      timer ??= setTimeout(() => {
        timer = undefined;
        void flush().catch(() => undefined);
      }, delayMs);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new CosmosClient({
    endpoint,
    key: COSMOS_EMULATOR_KEY,
    connectionPolicy: { enableEndpointDiscovery: false },
  });

  async function snapshot(): Promise<Snapshot> {
    const out: Snapshot = { version: 1, savedAt: new Date().toISOString(), databases: [] };
    const { resources: dbs } = await client.databases.readAll().fetchAll();
    for (const db of dbs) {
      const entry: Snapshot['databases'][number] = { id: db.id, containers: [] };
      const { resources: containers } = await client
        .database(db.id)
        .containers.readAll()
        .fetchAll();
      for (const c of containers) {
        const { resources: items } = await client
          .database(db.id)
          .container(c.id)
          .items.readAll()
          .fetchAll();
        const definition: ContainerDefinition = {
          id: c.id,
          partitionKey: c.partitionKey,
          indexingPolicy: c.indexingPolicy,
          uniqueKeyPolicy: c.uniqueKeyPolicy,
          defaultTtl: c.defaultTtl,
        };
        entry.containers.push({
          definition,
          items: items.map((i) => {
            const copy: Record<string, unknown> = { ...i };
            SYSTEM_FIELDS.forEach((f) => delete copy[f]);
            return copy;
          }),
        });
      }
      out.databases.push(entry);
    }
    return out;
  }

  async function flush(): Promise<void> {
    if (!file) return;
    // One snapshot at a time; a write during a snapshot leaves `dirty` set for the next one.
    while (saving) await saving;
    if (!dirty) return;
    dirty = false;
    saving = (async () => {
      try {
        const data = await snapshot();
        mkdirSync(opts.dir!, { recursive: true });
        writeFileSync(`${file}.tmp`, JSON.stringify(data));
        renameSync(`${file}.tmp`, file);
      } catch (e) {
        dirty = true;
        throw e;
      } finally {
        saving = undefined;
      }
    })();
    await saving;
  }

  async function restore(): Promise<void> {
    if (!file || !existsSync(file)) return;
    const data = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
    for (const db of data.databases) {
      const { database } = await client.databases.createIfNotExists({ id: db.id });
      for (const c of db.containers) {
        const { container } = await database.containers.createIfNotExists(c.definition);
        const queue = [...c.items];
        const worker = async () => {
          for (let item = queue.shift(); item; item = queue.shift())
            await container.items.upsert(item);
        };
        await Promise.all(Array.from({ length: 16 }, worker));
      }
    }
  }

  try {
    await restore();
  } catch (e) {
    server.close();
    throw new Error(`Could not restore the Cosmos snapshot ${file}: ${(e as Error).message}`);
  }
  dirty = false;

  return {
    endpoint,
    key: COSMOS_EMULATOR_KEY,
    flush,
    async stop() {
      clearTimeout(timer);
      await flush().catch(() => undefined);
      client.dispose();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
