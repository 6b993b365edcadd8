import { inject } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { StackInfo } from './localStack';

const INTEGRATION_ONLY =
  'only integration tests have the emulators: name the file *.int.test.ts (or put it under test/e2e or test/local)';

/** Connection facts of the run's shared emulators (started in globalSetup). */
export function sharedStack(): {
  storageConnection: string;
  cosmosEndpoint: string;
  cosmosKey: string;
} {
  const storageConnection = inject('storageConnection');
  if (!storageConnection) throw new Error(INTEGRATION_ONLY);
  return {
    storageConnection,
    cosmosEndpoint: inject('cosmosEndpoint'),
    cosmosKey: inject('cosmosKey'),
  };
}

/**
 * The local stack (`npm start`'s stack, as a process) this worker shares with the other files it
 * runs: started on the first ask, stopped at the end of the run (test/support/stackBroker.ts).
 * Isolate by unique names (machines, sites, groups); a file that kills or restarts services
 * starts its own with startStack() (localStack.ts).
 */
export async function sharedLocalStack(): Promise<StackInfo> {
  const broker = inject('stackBroker');
  if (!broker) throw new Error(INTEGRATION_ONLY);
  const slot = process.env.VITEST_POOL_ID ?? '1';
  const res = await fetch(`${broker}/stack/${slot}`);
  if (!res.ok) throw new Error(`the shared local stack did not start: ${await res.text()}`);
  return (await res.json()) as StackInfo;
}

/** A name unique to this test, usable as a container, database or hub name. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(5).toString('hex')}`.toLowerCase();
}
