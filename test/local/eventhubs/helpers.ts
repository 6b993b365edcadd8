import { afterAll, beforeAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EventHubConsumerClient,
  EventHubProducerClient,
  type EventPosition,
  type ReceivedEventData,
} from '@azure/event-hubs';
import {
  startEventHubsEmulator,
  type EventHubsEmulatorOptions,
  type RunningEventHubsEmulator,
} from '../../../local/eventhubs/emulator';
import type { HostContext, HostFunction, InvokeInput } from '../../../local/host/plugin';
import { sharedStack } from '../../support/stack';

export const KEY = { name: 'RootManageSharedAccessKey', key: 'test-key-0123456789' };

export function tempDir(prefix = 'haven-eh-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startTestEmulator(
  partial: Partial<EventHubsEmulatorOptions> = {},
): Promise<RunningEventHubsEmulator & { dataDir: string }> {
  const dataDir = partial.dataDir ?? tempDir();
  const emulator = await startEventHubsEmulator({
    port: 0,
    hubs: [{ name: 'hub', partitions: 4, consumerGroups: ['ingest'] }],
    keys: [KEY],
    ...partial,
    dataDir,
  });
  return Object.assign(emulator, { dataDir });
}

/** Fail fast instead of the SDK's minute of retries. */
export const fastRetry = { retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } };

/** Reads `count` events of one partition from `position` (throws after 20 s). */
export async function readPartition(
  connection: string,
  hub: string,
  partitionId: string,
  position: EventPosition,
  count: number,
  consumerGroup = '$Default',
): Promise<ReceivedEventData[]> {
  const client = new EventHubConsumerClient(consumerGroup, connection, hub);
  const got: ReceivedEventData[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`got ${got.length} of ${count} events from partition ${partitionId}`)),
        20_000,
      );
      const sub = client.subscribe(
        partitionId,
        {
          processEvents: async (events) => {
            got.push(...events);
            if (got.length >= count) {
              clearTimeout(timer);
              await sub.close();
              resolve();
            }
          },
          processError: async (err) => {
            clearTimeout(timer);
            await sub.close();
            reject(err);
          },
        },
        { startPosition: position, maxBatchSize: 100, maxWaitTimeInSeconds: 0.2 },
      );
      if (count === 0) {
        clearTimeout(timer);
        void sub.close().then(resolve);
      }
    });
  } finally {
    await client.close();
  }
  return got;
}

/** The error an SDK call fails with (fails the test if it succeeds). */
export async function errorOf(
  p: Promise<unknown>,
): Promise<{ code?: string; name?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; name?: string; message: string };
  }
  throw new Error('expected the call to fail');
}

/**
 * The emulator the SDK tests of one file share: `hub` (4 partitions, consumer group `ingest`),
 * `haven-batches` (2 partitions), a listen-only key, and a producer on `hub`. Registers the
 * file's beforeAll/afterAll; the fields are set once beforeAll has run (read them in tests).
 */
export function useSdkEmulator(): {
  emu: RunningEventHubsEmulator & { dataDir: string };
  producer: EventHubProducerClient;
} {
  const sdk = {} as ReturnType<typeof useSdkEmulator>;
  beforeAll(async () => {
    sdk.emu = await startTestEmulator({
      hubs: [
        { name: 'hub', partitions: 4, consumerGroups: ['ingest'] },
        { name: 'haven-batches', partitions: 2 },
      ],
      keys: [KEY, { name: 'listen-only', key: 'listen-key', rights: ['Listen'] }],
    });
    sdk.producer = new EventHubProducerClient(sdk.emu.connectionString(), 'hub');
  });
  afterAll(async () => {
    await sdk.producer?.close();
    await sdk.emu?.stop();
  });
  return sdk;
}

/** One invocation the fake host received. */
interface Call {
  name: string;
  input: InvokeInput;
}

/**
 * A host for a trigger driver: records every invocation (and runs `handler` on it, which may
 * throw to fail the invocation) and every log line.
 */
export function fakeHost(
  settings: Record<string, string>,
  handler: (call: Call) => Promise<void> | void = () => undefined,
) {
  const calls: Call[] = [];
  const logs: string[] = [];
  const host: HostContext = {
    settings,
    stateDir: '/nonexistent',
    baseUrl: 'http://127.0.0.1:0',
    log: {
      info: (m) => logs.push(`info ${m}`),
      warn: (m) => logs.push(`warn ${m}`),
      error: (m) => logs.push(`error ${m}`),
    },
    async invoke(name, input) {
      const call = { name, input };
      calls.push(call);
      await handler(call);
      return { returnValue: undefined, outputs: {} };
    },
    addHttpRoute: () => undefined,
  };
  return { host, calls, logs };
}

/** A function triggered by Event Hubs, with its trigger binding as function.json has it. */
export function eventHubFunction(name: string, trigger: Record<string, unknown>): HostFunction {
  return {
    name,
    triggerType: 'eventHubTrigger',
    trigger: { type: 'eventHubTrigger', direction: 'in', name: 'messages', ...trigger },
    bindings: { messages: { type: 'eventHubTrigger', direction: 'in', ...trigger } },
  };
}

/** The app settings a driver under test reads: the shared Azurite and this emulator's hub. */
export function driverSettings(
  emu: { connectionString(): string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    AzureWebJobsStorage: sharedStack().storageConnection,
    EH_CONN: emu.connectionString(),
    ...extra,
  };
}
