import type { HostLogger, TriggerDriver } from '../host/plugin';
import { createDurableDriver } from '../durable/driver';
import { eventHubsService } from '../eventhubs/stackService';
import { armService } from '../arm/armStackService';

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

/**
 * Extra emulators and trigger drivers of `npm start`, started in this order after Azurite and
 * Cosmos and before the host, stopped in reverse. Add one entry per service, for example:
 *   { name: 'durable', start: async () => ({ drivers: [createDurableDriver()] }) },
 */
export const services: StackService[] = [
  { name: 'durable', start: async () => ({ drivers: [createDurableDriver()] }) },
  eventHubsService,
  armService,
  // Recovery sagas poll ARM operations and the health probe: the local endpoint has no
  // throttling and its operations take milliseconds, so poll faster than in Azure (1 s).
  { name: 'recovery', start: async () => ({ settings: { HAVEN_RECOVERY_POLL_MS: '200' } }) },
];
