import type { StackService } from './stackService';
import { createDurableDriver } from '../durable/driver';
import { eventHubsService } from '../eventhubs/stackService';
import { armService } from '../arm/armStackService';
import { keyVaultService } from '../keyvault/keyVaultStackService';

/**
 * Extra emulators and trigger drivers of `npm start`, started in this order after Azurite and
 * Cosmos and before the host, stopped in reverse. Add one entry per service, for example:
 *   { name: 'durable', start: async () => ({ drivers: [createDurableDriver()] }) },
 */
export const services: StackService[] = [
  { name: 'durable', start: async () => ({ drivers: [createDurableDriver()] }) },
  eventHubsService,
  keyVaultService,
  armService,
  // Recovery sagas poll ARM operations and the health probe: the local endpoint has no
  // throttling and its operations take milliseconds, so poll faster than in Azure (1 s).
  { name: 'recovery', start: async () => ({ settings: { HAVEN_RECOVERY_POLL_MS: '200' } }) },
];
