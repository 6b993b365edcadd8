import type { HostLogger, TriggerDriver } from '../host/plugin';

/** What a service sees when the stack starts it (storage and Cosmos are already up). */
export interface StackServiceContext {
  /** The stack's state directory (`.haven`); a service keeps its data under `<stateDir>/<name>`. */
  stateDir: string;
  /** False for in-memory stacks (tests): keep nothing on disk that must survive. */
  persistent: boolean;
  /** Settings so far (HAVEN_STORAGE_CONNECTION, AzureWebJobsStorage, HAVEN_COSMOS_*, HAVEN_ADMIN_KEY, HAVEN_API_URL, ...). */
  settings: Readonly<Record<string, string>>;
  /** The host's base URL (it starts after the services), e.g. http://127.0.0.1:7071. */
  hostBaseUrl: string;
  log: HostLogger;
}

export interface StartedService {
  /** App settings the functions get (also written to .haven/local.env unless listed in `private`). */
  settings?: Record<string, string>;
  /** Setting names to keep out of local.env. */
  private?: string[];
  /** Trigger drivers the host should run (e.g. Event Hubs, Durable). */
  drivers?: TriggerDriver[];
  stop?(): Promise<void>;
}

export interface StackService {
  name: string;
  start(ctx: StackServiceContext): Promise<StartedService>;
}
