import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readHostJson } from '../host/hostJson';
import type { StackService } from '../stack/stackService';
import { createEventHubsDriver } from './driver';
import { startEventHubsEmulator } from './emulator';

/** The hub the agents publish batches to (architecture §2), as the local stack creates it. */
export const LOCAL_HUB = {
  name: 'haven-batches',
  partitions: 4,
  consumerGroups: ['$Default', 'ingest'],
  retentionHours: 24,
};

interface EventHubsHostJson {
  maxEventBatchSize?: number;
  prefetchCount?: number;
  batchCheckpointFrequency?: number;
}

/** Namespace key, generated once (mode 600) so connection strings stay valid across restarts. */
function loadOrCreateKey(file: string | undefined): string {
  if (file && existsSync(file))
    return (JSON.parse(readFileSync(file, 'utf8')) as { key: string }).key;
  const key = randomBytes(32).toString('base64');
  if (file) writeFileSync(file, JSON.stringify({ key }), { mode: 0o600 });
  return key;
}

/** The trigger's owner id, kept with the state: a restarted stack is the same instance. */
function loadOrCreateOwnerId(file: string | undefined): string {
  if (file && existsSync(file)) return readFileSync(file, 'utf8').trim();
  const id = randomUUID();
  if (file) writeFileSync(file, id);
  return id;
}

/**
 * `npm start` service: the local Event Hubs endpoint (data under `<stateDir>/eventhubs`) and
 * the `eventHubTrigger` driver, tuned by host.json `extensions.eventHubs`.
 */
export const eventHubsService: StackService = {
  name: 'eventhubs',
  async start(ctx) {
    const dataDir = ctx.persistent
      ? join(ctx.stateDir, 'eventhubs')
      : mkdtempSync(join(tmpdir(), 'haven-eventhubs-'));
    mkdirSync(dataDir, { recursive: true });
    const key = loadOrCreateKey(ctx.persistent ? join(dataDir, 'key.json') : undefined);
    // Keep the port of the previous run when it is free, so local.env stays valid for agents.
    const portFile = ctx.persistent ? join(dataDir, 'port') : undefined;
    const previous = portFile && existsSync(portFile) ? Number(readFileSync(portFile, 'utf8')) : 0;
    const start = (port: number) =>
      startEventHubsEmulator({
        port,
        dataDir,
        hubs: [LOCAL_HUB],
        keys: [{ name: 'RootManageSharedAccessKey', key }],
        log: (m) => ctx.log.info(m),
      });
    const emulator = await start(previous).catch((e: unknown) => {
      if (previous && (e as NodeJS.ErrnoException).code === 'EADDRINUSE') return start(0);
      throw e;
    });
    if (portFile) writeFileSync(portFile, String(emulator.port));
    const eh = (readHostJson(resolve('host.json')).extensions?.eventHubs ??
      {}) as EventHubsHostJson;
    const driver = createEventHubsDriver({
      maxEventBatchSize: eh.maxEventBatchSize,
      prefetchCount: eh.prefetchCount,
      batchCheckpointFrequency: eh.batchCheckpointFrequency,
      ownerId: loadOrCreateOwnerId(ctx.persistent ? join(dataDir, 'owner-id') : undefined),
    });
    return {
      settings: {
        HAVEN_EVENTHUBS_CONNECTION: emulator.connectionString(),
        HAVEN_EVENTHUBS_HUB: LOCAL_HUB.name,
      },
      drivers: [driver],
      async stop() {
        await emulator.stop();
        if (!ctx.persistent) rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};
