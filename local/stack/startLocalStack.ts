import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stopLocalArmVms } from '../arm/localArm';
import type { HostLogger, TriggerDriver } from '../host/plugin';
import { PortInUseError, startHost, type RunningHost } from '../host/startHost';
import { startAzurite } from './azurite';
import { claimPort, PortBusyError } from './freePort';
import { writeLocalEnv } from './localEnvFile';
import { startPersistentCosmos } from './persistentCosmos';
import { services as defaultServices } from './services';
import type { StackService, StartedService } from './stackService';
import { loadOrCreateSecrets } from './stackSecrets';

export interface LocalStackOptions {
  /** Default `.haven` (relative to the working directory). */
  stateDir?: string;
  /** Host port; default 7071, 0 = a free one. */
  port?: number;
  hostname?: string;
  /** Default true: Azurite on disk under `<stateDir>/azurite`, Cosmos snapshots under `<stateDir>/cosmos`. */
  persistent?: boolean;
  /** Wipe the state directory first. */
  fresh?: boolean;
  /** App modules; default `dist/functions/index.js`. */
  entry?: string[];
  hostJsonPath?: string;
  /** Default: the list in local/stack/services.ts. */
  services?: StackService[];
  /** Extra app settings (win over generated ones). */
  settings?: Record<string, string>;
  log?: HostLogger;
  blobPollIntervalMs?: number;
  /**
   * The replicas in a second storage account, served by a second emulator process, as a
   * deployment keeps them in a premium page-blob account (adapters/blobs/routedBlobStore.ts).
   */
  replicaAccount?: boolean;
}

export interface LocalStack {
  /** e.g. http://127.0.0.1:7071 */
  baseUrl: string;
  /** e.g. http://127.0.0.1:7071/api */
  apiUrl: string;
  /** What `.haven/local.env` holds. */
  env: Record<string, string>;
  envFile: string;
  /** Every app setting the host got. */
  settings: Record<string, string>;
  host: RunningHost;
  stop(): Promise<void>;
}

export { PortBusyError };

/** The value of a start the caller has checked did not fail. */
const fulfilled = <T>(r: PromiseSettledResult<T>): T => (r as PromiseFulfilledResult<T>).value;

/** The local replica account's name (the emulator's default account holds everything else). */
export const LOCAL_REPLICA_ACCOUNT = 'havenreplicas';

/** Starts Azurite, the Cosmos emulator, the pluggable services and the Functions host. */
export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const stateDir = resolve(opts.stateDir ?? '.haven');
  const persistent = opts.persistent ?? true;
  const hostname = opts.hostname ?? '127.0.0.1';
  const log = opts.log ?? { info: () => {}, warn: () => {}, error: () => {} };
  if (opts.fresh) {
    await stopLocalArmVms(stateDir); // guests of the wiped state would run on, unreachable
    rmSync(stateDir, { recursive: true, force: true });
  }
  // Owner only: replicas, the Cosmos snapshot, secrets and VM disks live below it.
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  chmodSync(stateDir, 0o700);
  // Fail fast on a busy port, before any child process exists.
  const port = await claimPort(opts.port ?? 7071, hostname);
  const baseUrl = `http://${hostname}:${port}`;

  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      await stop().catch((e: unknown) =>
        log.error(`Stack stop step failed: ${(e as Error)?.message ?? e}`),
      );
    }
  };
  try {
    const [az, co, ra] = await Promise.allSettled([
      startAzurite({ location: persistent ? join(stateDir, 'azurite') : undefined }),
      startPersistentCosmos({ dir: persistent ? join(stateDir, 'cosmos') : undefined }),
      opts.replicaAccount
        ? startAzurite({
            location: persistent ? join(stateDir, 'azurite-replicas') : undefined,
            account: LOCAL_REPLICA_ACCOUNT,
          })
        : Promise.resolve(undefined),
    ]);
    for (const started of [az, co, ra]) {
      const service = started.status === 'fulfilled' ? started.value : undefined;
      if (service) stops.push(() => service.stop());
    }
    for (const started of [az, co, ra]) if (started.status === 'rejected') throw started.reason;
    const azurite = fulfilled(az);
    const cosmos = fulfilled(co);
    const replicaAzurite = fulfilled(ra);
    const replicaStorage: Record<string, string> = replicaAzurite
      ? { HAVEN_REPLICA_STORAGE_CONNECTION: replicaAzurite.connectionString }
      : {};
    const secrets = loadOrCreateSecrets(persistent ? join(stateDir, 'secrets.json') : undefined);
    const apiUrl = `${baseUrl}/api`;
    const settings: Record<string, string> = {
      AzureWebJobsStorage: azurite.connectionString,
      HAVEN_STORAGE_CONNECTION: azurite.connectionString,
      ...replicaStorage,
      HAVEN_COSMOS_ENDPOINT: cosmos.endpoint,
      HAVEN_COSMOS_KEY: cosmos.key,
      HAVEN_ADMIN_KEY: secrets.adminKey,
      HAVEN_KEK: secrets.kek,
      HAVEN_API_URL: apiUrl,
      HAVEN_HOST_NUDGE_URL: `${baseUrl}/admin/host/blob-written`,
      // Azurite serves one request at a time: past a few, hydrate's page writes only queue there
      // ahead of the uploads the RPO waits for (docs/durability.md: 8 → 2, then 4 once catching
      // up made groups of thousands of writes).
      HAVEN_HYDRATE_WRITES_IN_FLIGHT: '4',
    };
    const env: Record<string, string> = {
      HAVEN_API_URL: apiUrl,
      HAVEN_STORAGE_CONNECTION: azurite.connectionString,
      ...replicaStorage,
      HAVEN_COSMOS_ENDPOINT: cosmos.endpoint,
      HAVEN_COSMOS_KEY: cosmos.key,
      HAVEN_ADMIN_KEY: secrets.adminKey,
    };
    const drivers: TriggerDriver[] = [];
    for (const svc of opts.services ?? defaultServices) {
      let started: StartedService;
      try {
        started = await svc.start({
          stateDir,
          persistent,
          settings: { ...settings },
          hostBaseUrl: baseUrl,
          log,
        });
      } catch (e) {
        throw new Error(`Service '${svc.name}' failed to start: ${(e as Error)?.message ?? e}`, {
          cause: e,
        });
      }
      if (started.stop) stops.push(started.stop);
      Object.assign(settings, started.settings);
      for (const [k, v] of Object.entries(started.settings ?? {})) {
        if (!started.private?.includes(k)) env[k] = v;
      }
      drivers.push(...(started.drivers ?? []));
    }
    Object.assign(settings, opts.settings);
    const entry = opts.entry ?? [resolve('dist/functions/index.js')];
    const missing = entry.find((e) => !existsSync(e));
    if (missing)
      throw new Error(`${missing} does not exist (build first: npm run build; npm start does).`);
    const host = await startHost({
      entry,
      port,
      hostname,
      stateDir: join(stateDir, 'host'),
      masterKey: secrets.adminKey,
      hostJsonPath: opts.hostJsonPath,
      settings,
      drivers,
      log,
      blobPollIntervalMs: opts.blobPollIntervalMs,
    }).catch((e: unknown) => {
      throw e instanceof PortInUseError ? new PortBusyError(port, hostname) : e;
    });
    stops.push(() => host.stop());
    const envFile = join(stateDir, 'local.env');
    writeLocalEnv(envFile, env);
    return { baseUrl, apiUrl, env, envFile, settings, host, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
