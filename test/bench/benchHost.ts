import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRoot, useRoot, type Root } from '../../app/root';
import { loadConfig } from '../../app/config';
import { createDurableDriver } from '../../local/durable/driver';
import { startHost } from '../../local/host/startHost';
import { startAzurite } from '../../local/stack/azurite';
import { startCosmos } from '../../local/stack/cosmos';

const KEY = 'bench-master-key-0123456789abcdef';

/**
 * The control plane of the orchestration benches: Azurite, Cosmos, the app's root built on
 * them, and the real Functions host with the durable backend running `entry`, against the
 * file-backed recovery target (no VM), so what is timed is Haven's own orchestration.
 */
export interface BenchHost {
  root: Root;
  stateDir: string;
  /** Starts the host (after the caller has seeded machines through `root`). */
  start(entry: string, hubName: string): Promise<void>;
  /** An admin API call; the parsed JSON answer. */
  call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export async function benchHost(name: string): Promise<BenchHost> {
  const [azurite, cosmos] = await Promise.all([startAzurite(), startCosmos()]);
  const stateDir = mkdtempSync(join(tmpdir(), `${name}-bench-`));
  const settings: Record<string, string> = {
    AzureWebJobsStorage: azurite.connectionString,
    HAVEN_STORAGE_CONNECTION: azurite.connectionString,
    HAVEN_COSMOS_ENDPOINT: cosmos.endpoint,
    HAVEN_COSMOS_KEY: cosmos.key,
    HAVEN_COSMOS_DATABASE: `${name.replace(/[^a-z0-9]/gi, '')}bench`,
    HAVEN_ADMIN_KEY: KEY,
    HAVEN_KEK: randomBytes(32).toString('base64'),
    HAVEN_RECOVERY_RESOURCE_GROUP: 'rg-bench',
    RECOVERY_TARGET_FILE: join(stateDir, 'target.json'),
    RECOVERY_POLL_MS: '100',
  };
  // A root cached by an earlier host in this process (another bench's local stack) points at
  // its stopped emulators: the app here must build its own.
  useRoot(undefined);
  const root = createRoot(loadConfig(settings));
  await root.ready();
  let host: Awaited<ReturnType<typeof startHost>> | undefined;
  return {
    root,
    stateDir,
    async start(entry, hubName) {
      host = await startHost({
        entry: [entry],
        stateDir: join(stateDir, 'host'),
        masterKey: KEY,
        settings,
        drivers: [createDurableDriver({ hubName })],
        log: { info() {}, warn() {}, error() {} },
      });
    },
    async call(method, path, body) {
      if (!host) throw new Error('bench host not started');
      const res = await fetch(`${host.baseUrl}/api/${path}`, {
        method,
        headers: { 'x-functions-key': KEY, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      // A failing app fails the bench at once instead of being polled until a deadline.
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as Record<string, unknown>;
    },
    async stop() {
      await host?.stop();
      await Promise.all([azurite.stop(), cosmos.stop()]);
      // The host's functions built the process's root from these settings: the next bench's
      // local stack must not find it pointing at the emulators stopped here.
      useRoot(undefined);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
