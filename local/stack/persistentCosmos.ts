import { CosmosClient, type ContainerDefinition } from '@azure/cosmos';
import { createHttpServer } from '@vercel/cosmosdb-server';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { COSMOS_EMULATOR_KEY, type RunningCosmos } from './cosmos';
import {
  UNDESCRIBED,
  WriteLog,
  definitionOf,
  withoutSystemFields,
  writeRecordOf,
} from './cosmosWriteLog';

export interface PersistentCosmosOptions {
  /** Directory for `snapshot.json` and the write log; omit for a purely in-memory emulator. */
  dir?: string;
  port?: number;
  /** A snapshot is taken (and the log it covers dropped) once the log holds this much. */
  compactAfterBytes?: number;
}

interface Snapshot {
  /** 1: no write log existed; 2: `logsBefore` says which log files it covers. */
  version: 1 | 2;
  savedAt: string;
  /** The write-log files numbered below this are in the snapshot. */
  logsBefore?: number;
  databases: {
    id: string;
    containers: { definition: ContainerDefinition; items: Record<string, unknown>[] }[];
  }[];
}

export interface PersistentCosmos extends RunningCosmos {
  /** Takes a snapshot now and drops the write log it covers (also done as the log grows, and at stop). */
  flush(): Promise<void>;
}

/**
 * @vercel/cosmosdb-server keeps everything in memory. This wraps it with persistence that only
 * uses its public REST surface, so it does not depend on the server's internals: each successful
 * write appends what it left (the stored document, the definition, or the deletion) to a write
 * log before its response goes out, so a killed stack keeps every write it acknowledged, as
 * Cosmos DB does. A snapshot of databases, container definitions and items (read through
 * @azure/cosmos) goes to `snapshot.json` (write + rename) once the log passes
 * `compactAfterBytes`, and at stop; a start loads the snapshot and replays the log after it.
 * Snapshots cost a read of everything: taken every 500 ms under writes they used a core's tenth
 * at 200 documents and most of one at 3,000. System fields (_etag, _ts, _rid) are regenerated
 * on reload, as after a restore.
 */
export async function startPersistentCosmos(
  opts: PersistentCosmosOptions = {},
): Promise<PersistentCosmos> {
  // keepAlive: the server otherwise answers `connection: close`, and every request of every
  // client paid a new TCP connection.
  const server = createHttpServer({ keepAlive: true });
  const file = opts.dir ? join(opts.dir, 'snapshot.json') : undefined;
  if (opts.dir) mkdirSync(opts.dir, { recursive: true });
  const log = opts.dir ? new WriteLog(opts.dir) : undefined;
  const compactAfter = opts.compactAfterBytes ?? 8 * 1024 * 1024;
  let saving: Promise<void> | undefined;
  let restored = false;
  let compactSoon = false;

  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!log || req.method === 'GET' || req.method === 'HEAD') return;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      if (restored && res.statusCode < 400) record(req, String(args[0] ?? ''));
      return end(...args);
    }) as typeof res.end;
  });

  function record(req: IncomingMessage, body: string): void {
    try {
      const r = writeRecordOf(req.method ?? '', req.url ?? '', req.headers, body);
      if (r === UNDESCRIBED) compactSoon = true;
      else if (r) log!.append(r);
    } catch (e) {
      // Not in the log: only a snapshot keeps it now, so take one.
      console.error(`cosmos write log: ${(e as Error).message}`);
      compactSoon = true;
    }
    if (compactSoon || log!.bytes > compactAfter) {
      compactSoon = false;
      setImmediate(() => void flush().catch(() => undefined));
    }
  }

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

  async function snapshot(logsBefore: number): Promise<Snapshot> {
    const out: Snapshot = {
      version: 2,
      savedAt: new Date().toISOString(),
      logsBefore,
      databases: [],
    };
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
        entry.containers.push({
          definition: definitionOf(c),
          items: items.map(withoutSystemFields),
        });
      }
      out.databases.push(entry);
    }
    return out;
  }

  async function flush(): Promise<void> {
    if (!file || !log) return;
    // One snapshot at a time; writes during one go to the next log file, which it may or may
    // not include: replaying them over it is harmless (each record is a final state, in order).
    while (saving) await saving;
    if (log.bytes === 0 && log.numbers().length === 0) return;
    saving = (async () => {
      try {
        const covered = log.rotate();
        const data = await snapshot(covered);
        writeFileSync(`${file}.tmp`, JSON.stringify(data));
        renameSync(`${file}.tmp`, file);
        log.removeBefore(covered);
      } finally {
        saving = undefined;
      }
    })();
    await saving;
  }

  async function restore(): Promise<void> {
    if (!file || !log) return;
    const data = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Snapshot) : null;
    for (const db of data?.databases ?? []) {
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
    await log.replay(client, data?.logsBefore ?? 0);
  }

  try {
    await restore();
  } catch (e) {
    server.close();
    throw new Error(`Could not restore the Cosmos state in ${opts.dir}: ${(e as Error).message}`);
  }
  restored = true;

  return {
    endpoint,
    key: COSMOS_EMULATOR_KEY,
    flush,
    async stop() {
      await flush().catch(() => undefined);
      client.dispose();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
