import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
import { startAzurite, type RunningAzurite } from '../../local/stack/azurite';
import { startCosmos, type RunningCosmos } from '../../local/stack/cosmos';
import { freshBuild } from './freshBuild';
import { startStackBroker, type StackBroker } from './stackBroker';

declare module 'vitest' {
  export interface ProvidedContext {
    storageConnection: string;
    cosmosEndpoint: string;
    cosmosKey: string;
    stackBroker: string;
  }
}

/**
 * For the integration tests: dist/ up to date (children run built JavaScript), one Azurite and
 * one Cosmos emulator per run on free ports (tests isolate by unique names), and the broker
 * of the per-worker local stacks (started only when a file asks for one).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  freshBuild();
  let azurite: RunningAzurite | undefined;
  let cosmos: RunningCosmos | undefined;
  let broker: StackBroker | undefined;
  const teardown = async () => {
    await broker?.close();
    await Promise.all([azurite?.stop(), cosmos?.stop()]);
  };
  const started = await Promise.allSettled([
    startAzurite().then((a) => (azurite = a)),
    startCosmos().then((c) => (cosmos = c)),
    startStackBroker().then((b) => (broker = b)),
  ]);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed || !azurite || !cosmos || !broker) {
    await teardown();
    throw (failed as PromiseRejectedResult | undefined)?.reason;
  }
  project.provide('storageConnection', azurite.connectionString);
  project.provide('cosmosEndpoint', cosmos.endpoint);
  project.provide('cosmosKey', cosmos.key);
  project.provide('stackBroker', broker.url);
  return teardown;
}
