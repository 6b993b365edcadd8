import { EventHubProducerClient } from '@azure/event-hubs';
import type { HealthProbe } from '../../core/controlPlane/health';
import type { DocumentStore } from '../../core/documents/ports';
import { blobServiceOf, type StorageAccess } from '../blobs/storageAccess';

/** Dependency probes for GET /api/health (each one cheap round trip). */
export function cosmosProbe(documents: DocumentStore): HealthProbe {
  return { name: 'cosmos', check: () => documents.ping() };
}

export function storageProbe(access: StorageAccess | string, name = 'storage'): HealthProbe {
  const client = blobServiceOf(access);
  return {
    name,
    check: async () => {
      // One page of one container: the service properties need a management role the app's
      // identity has not (Storage Blob Data Owner covers listing containers).
      await client.listContainers().byPage({ maxPageSize: 1 }).next();
    },
  };
}

export function eventHubsProbe(connection: string, hub: string): HealthProbe {
  return {
    name: 'eventHubs',
    check: async () => {
      const client = new EventHubProducerClient(connection, hub, {
        retryOptions: { maxRetries: 0, timeoutInMs: 4000 },
      });
      try {
        await client.getEventHubProperties();
      } finally {
        await client.close().catch(() => undefined);
      }
    },
  };
}
