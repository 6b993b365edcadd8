import { randomBytes } from 'node:crypto';
import type { HostContext, HostFunction, TriggerDriver } from '../host/plugin';
import { DurableBackend } from './durableBackend';
import { WEBHOOK_PREFIX, clientPayload, type ApiConfig } from './apiUrls';
import { createDurableHttpHandler, deriveSystemKey } from './httpApi';

export interface DurableDriverOptions {
  /** Storage for the task hub; default: the host setting `AzureWebJobsStorage`. */
  connectionString?: string;
  /** Task hub name (host.json `extensions.durableTask.hubName`); default `HavenHub`. */
  hubName?: string;
  /** Orchestration episodes run at once (host.json maxConcurrentOrchestratorFunctions). Default 8. */
  maxConcurrentOrchestrations?: number;
  /** Activities run at once (host.json maxConcurrentActivityFunctions). Default 10. */
  maxConcurrentActivities?: number;
  /** An activity running longer fails its task with a timeout error. Default 10 min (functionTimeout). */
  activityTimeoutMs?: number;
  /** Master key of the host: accepted on the webhooks; the system key is derived from it. Default: setting HAVEN_ADMIN_KEY. */
  masterKey?: string;
}

export interface DurableDriver extends TriggerDriver {
  /** The running backend (after start), for tests and benchmarks. */
  readonly backend: DurableBackend | undefined;
}

/**
 * The Durable Functions extension for the local host: runs orchestrator, activity (and, not
 * yet, entity) functions registered with the real durable-functions SDK, provides the
 * `durableClient` input binding, and serves the extension's HTTP API on the host's port.
 */
export function createDurableDriver(opts: DurableDriverOptions = {}): DurableDriver {
  let backend: DurableBackend | undefined;
  let api: ApiConfig | undefined;
  const orchestrators = new Map<string, string>();
  const activities = new Map<string, string>();

  return {
    triggerTypes: ['orchestrationTrigger', 'activityTrigger', 'entityTrigger'],
    inputTypes: ['durableClient'],
    get backend() {
      return backend;
    },

    async start(functions: HostFunction[], host: HostContext): Promise<void> {
      for (const f of functions) {
        const t = f.triggerType.toLowerCase();
        if (t === 'orchestrationtrigger') orchestrators.set(f.name.toLowerCase(), f.name);
        else if (t === 'activitytrigger') activities.set(f.name.toLowerCase(), f.name);
        else if (t === 'entitytrigger')
          host.log.warn(
            `Durable entity '${f.name}' will not run: entities are not implemented locally.`,
          );
      }
      const connectionString =
        opts.connectionString ??
        host.settings.AzureWebJobsStorage ??
        host.settings.HAVEN_STORAGE_CONNECTION;
      if (!connectionString)
        throw new Error(
          'The durable backend needs AzureWebJobsStorage (or a connectionString option).',
        );
      const hubName = opts.hubName ?? host.settings.HAVEN_DURABLE_HUB ?? 'HavenHub';
      if (!/^[A-Za-z][A-Za-z0-9]{2,44}$/.test(hubName))
        throw new Error(`Invalid task hub name '${hubName}'.`);
      const masterKey = opts.masterKey ?? host.settings.HAVEN_ADMIN_KEY;
      api = {
        baseUrl: host.baseUrl,
        hubName,
        systemKey: masterKey ? deriveSystemKey(masterKey) : undefined,
        extraKeys: masterKey ? [masterKey] : [],
        rpcToken: randomBytes(18).toString('base64url'),
      };
      const num = (v: number | undefined, setting: string, dflt: number) =>
        v ?? (host.settings[setting] ? Number(host.settings[setting]) : dflt);
      backend = new DurableBackend(
        {
          connectionString,
          hubName,
          maxConcurrentOrchestrations: num(
            opts.maxConcurrentOrchestrations,
            'HAVEN_DURABLE_MAX_ORCHESTRATIONS',
            8,
          ),
          maxConcurrentActivities: num(
            opts.maxConcurrentActivities,
            'HAVEN_DURABLE_MAX_ACTIVITIES',
            10,
          ),
          activityTimeoutMs: num(
            opts.activityTimeoutMs,
            'HAVEN_DURABLE_ACTIVITY_TIMEOUT_MS',
            10 * 60_000,
          ),
        },
        {
          invoke: async (name, triggerValue) =>
            (await host.invoke(name, { triggerValue })).returnValue,
          orchestratorName: (n) => orchestrators.get(n.toLowerCase()),
          activityName: (n) => activities.get(n.toLowerCase()),
          log: host.log,
        },
      );
      host.addHttpRoute(WEBHOOK_PREFIX, createDurableHttpHandler(backend, api));
      await backend.start();
      host.log.info(
        `Durable backend started: hub ${hubName}, ${orchestrators.size} orchestrators, ${activities.size} activities.`,
      );
    },

    resolveInput(): unknown {
      if (!api) throw new Error('The durable backend has not started.');
      return clientPayload(api);
    },

    async stop(): Promise<void> {
      await backend?.stop();
    },
  };
}
