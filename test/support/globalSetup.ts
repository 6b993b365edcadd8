import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
import { startAzurite, type RunningAzurite } from '../../local/stack/azurite';
import { startCosmos, type RunningCosmos } from '../../local/stack/cosmos';

declare module 'vitest' {
  export interface ProvidedContext {
    storageConnection: string;
    cosmosEndpoint: string;
    cosmosKey: string;
  }
}

let azurite: RunningAzurite | undefined;
let cosmos: RunningCosmos | undefined;

/** One Azurite and one Cosmos emulator per test run, on free ports; tests isolate by unique names. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  [azurite, cosmos] = await Promise.all([startAzurite(), startCosmos()]);
  project.provide('storageConnection', azurite.connectionString);
  project.provide('cosmosEndpoint', cosmos.endpoint);
  project.provide('cosmosKey', cosmos.key);
  return async () => {
    await Promise.all([azurite?.stop(), cosmos?.stop()]);
  };
}
