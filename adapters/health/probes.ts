import { BlobServiceClient } from '@azure/storage-blob';
import { EventHubProducerClient } from '@azure/event-hubs';
import type { HealthProbe } from '../../core/controlPlane/health';
import type { DocumentStore } from '../../core/documents/ports';

/** Dependency probes for GET /api/health (each one cheap round trip). */
export function cosmosProbe(documents: DocumentStore): HealthProbe {
  return { name: 'cosmos', check: () => documents.ping() };
}

export function storageProbe(connection: string): HealthProbe {
  const client = BlobServiceClient.fromConnectionString(connection);
  return {
    name: 'storage',
    check: async () => {
      await client.getProperties();
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
