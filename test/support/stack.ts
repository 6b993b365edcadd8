import { inject } from 'vitest';
import { randomBytes } from 'node:crypto';

/** Connection facts of the run's shared emulators (started in globalSetup). */
export function sharedStack(): {
  storageConnection: string;
  cosmosEndpoint: string;
  cosmosKey: string;
} {
  return {
    storageConnection: inject('storageConnection'),
    cosmosEndpoint: inject('cosmosEndpoint'),
    cosmosKey: inject('cosmosKey'),
  };
}

/** A name unique to this test, usable as a container, database or hub name. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(5).toString('hex')}`.toLowerCase();
}
