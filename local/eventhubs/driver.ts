import {
  earliestEventPosition,
  EventHubConsumerClient,
  type PartitionContext,
  type ReceivedEventData,
  type Subscription,
} from '@azure/event-hubs';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { ContainerClient } from '@azure/storage-blob';
import type { HostContext, HostFunction, TriggerDriver } from '../host/plugin';
import { triggerInputs } from './triggerInputs';

export interface EventHubsDriverOptions {
  /** host.json `extensions.eventHubs.maxEventBatchSize` (Functions' default 100). */
  maxEventBatchSize?: number;
  /** host.json `extensions.eventHubs.prefetchCount`. */
  prefetchCount?: number;
  /** host.json `extensions.eventHubs.batchCheckpointFrequency`: checkpoint every N good batches. */
  batchCheckpointFrequency?: number;
  /** Storage for ownership and checkpoints; default the app setting `AzureWebJobsStorage`. */
  storageConnection?: string;
  /** Blob container for ownership and checkpoints, as the Functions host names it. */
  checkpointContainer?: string;
  /**
   * How often the processor balances partitions (and restarts a stopped one). Each round lists
   * ownership and renews every owned partition: storage requests paid by time, not by data (at
   * 2 s they were an eighth of an initial sync's requests). 10 s as the Functions host does.
   */
  loadBalancingUpdateIntervalMs?: number;
  /** A crashed owner's claim lapses after this long (30 s as the Functions host does). */
  partitionOwnershipExpirationIntervalMs?: number;
  /**
   * This processor's owner id in the checkpoint store. A host restarted on the same state passes
   * the id it had (as an App Service instance keeps its instance id), so it takes its partitions
   * back at once instead of waiting for its own crashed claims to lapse. Default: a new id.
   */
  ownerId?: string;
  /** How long a partition waits to fill a batch. */
  maxWaitTimeInSeconds?: number;
}

/** Thrown from processEvents when the host stops mid-retry: the checkpoint stays before the batch. */
class HandlerFailed extends Error {
  readonly retryable = false;
  constructor(cause: unknown) {
    super(`Event Hubs trigger handler failed: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'HandlerFailed';
  }
}

/**
 * A restarted instance gives up the claims its crashed run left, as a clean stop would: the
 * processor only renews claims whose partitions it already receives from, and counts the rest as
 * its own, so without this it would neither receive from them nor let anyone take them until
 * they lapse.
 */
async function giveUpOwnClaims(
  store: BlobCheckpointStore,
  client: EventHubConsumerClient,
  consumerGroup: string,
  ownerId: string,
): Promise<void> {
  const claims = await store.listOwnership(
    client.fullyQualifiedNamespace,
    client.eventHubName,
    consumerGroup,
  );
  const mine = claims.filter((c) => c.ownerId === ownerId);
  if (mine.length) await store.claimOwnership(mine.map((c) => ({ ...c, ownerId: '' })));
}

interface Running {
  fn: HostFunction;
  client: EventHubConsumerClient;
  subscription: Subscription;
}

/**
 * Runs `eventHubTrigger` functions the way the Functions host does: an EventHubConsumerClient
 * with a blob checkpoint store per function, batches of up to maxEventBatchSize, checkpoint
 * after each invocation. A failed invocation is retried by the function's retry policy; one that
 * fails for good is checkpointed past like a good one (Azure's Event Hubs trigger has no
 * redelivery of its own). A host stopping mid-retry leaves the checkpoint before the batch, and
 * after a restart delivery resumes from the last checkpoint (at least once).
 */
export function createEventHubsDriver(opts: EventHubsDriverOptions = {}): TriggerDriver {
  const running: Running[] = [];
  let stopping = false;

  async function startOne(fn: HostFunction, host: HostContext): Promise<void> {
    const t = fn.trigger;
    const hubName = resolveSetting(String(t.eventHubName ?? ''), host.settings);
    const connectionName = String(t.connection ?? '');
    const connection = host.settings[connectionName];
    if (!connection) {
      host.log.error(
        `Function '${fn.name}': app setting '${connectionName}' (Event Hubs connection) is not set; it will not run.`,
      );
      return;
    }
    const storage = opts.storageConnection ?? host.settings.AzureWebJobsStorage;
    if (!storage) {
      host.log.error(
        `Function '${fn.name}': AzureWebJobsStorage is not set (checkpoints live there); it will not run.`,
      );
      return;
    }
    const consumerGroup = String(t.consumerGroup ?? '$Default');
    const many = String(t.cardinality ?? 'one').toLowerCase() === 'many';
    const dataType = String(t.dataType ?? '').toLowerCase();
    const container = new ContainerClient(
      storage,
      opts.checkpointContainer ?? 'azure-webjobs-eventhub',
    );
    await container.createIfNotExists();
    const store = new BlobCheckpointStore(container);
    const client = new EventHubConsumerClient(consumerGroup, connection, hubName, store, {
      ...(opts.ownerId ? { identifier: opts.ownerId } : {}),
      loadBalancingOptions: {
        strategy: 'greedy',
        updateIntervalInMs: opts.loadBalancingUpdateIntervalMs ?? 10_000,
        partitionOwnershipExpirationIntervalInMs:
          opts.partitionOwnershipExpirationIntervalMs ?? 30_000,
      },
    });
    if (opts.ownerId) await giveUpOwnClaims(store, client, consumerGroup, opts.ownerId);
    const goodBatches = new Map<string, number>();
    const every = Math.max(1, opts.batchCheckpointFrequency ?? 1);

    const processEvents = async (events: ReceivedEventData[], ctx: PartitionContext) => {
      if (events.length === 0) return;
      const invokeBatch = async (): Promise<void> => {
        for (const input of triggerInputs(events, ctx, many, dataType))
          await host.invoke(fn.name, input);
      };
      // The host runs the function's retry policy (hostInvoke.ts): with `maxRetryCount: -1` the
      // same batch is invoked until it succeeds. What still fails is checkpointed past, as the
      // Functions host does: a function that must not lose a batch needs a retry policy.
      try {
        await invokeBatch();
      } catch (err) {
        // The host stops drivers after it starts stopping: its retries may have been cut short.
        if (stopping || host.isStopping?.()) throw new HandlerFailed(err);
        host.log.error(
          `Function '${fn.name}' failed on partition ${ctx.partitionId} (sequence ${events[0]!.sequenceNumber}…${events[events.length - 1]!.sequenceNumber}) with no retry left: the batch is skipped, as the Functions host skips it: ${(err as Error)?.message ?? err}`,
        );
      }
      const n = (goodBatches.get(ctx.partitionId) ?? 0) + 1;
      goodBatches.set(ctx.partitionId, n % every);
      if (n % every === 0) await ctx.updateCheckpoint(events[events.length - 1]!);
    };

    const subscription = client.subscribe(
      {
        processEvents,
        processError: async (err, ctx) => {
          if (err instanceof HandlerFailed) return;
          host.log.warn(
            `Event Hubs trigger '${fn.name}' (partition ${ctx.partitionId || '-'}): ${(err as Error).message}`,
          );
        },
      },
      {
        maxBatchSize: opts.maxEventBatchSize ?? 100,
        maxWaitTimeInSeconds: opts.maxWaitTimeInSeconds ?? 1,
        prefetchCount: opts.prefetchCount,
        startPosition: earliestEventPosition,
        skipParsingBodyAsJson: true,
      },
    );
    running.push({ fn, client, subscription });
    host.log.info(
      `Event Hubs trigger '${fn.name}': hub '${hubName}', consumer group '${consumerGroup}', cardinality ${many ? 'many' : 'one'}`,
    );
  }

  return {
    triggerTypes: ['eventHubTrigger'],
    async start(functions: HostFunction[], host: HostContext): Promise<void> {
      for (const fn of functions) await startOne(fn, host);
    },
    async stop(): Promise<void> {
      stopping = true;
      const all = running.splice(0);
      await Promise.all(
        all.map(async (r) => {
          await r.subscription.close().catch(() => undefined);
          await r.client.close().catch(() => undefined);
        }),
      );
    },
  };
}

/** `%NAME%` → the app setting NAME, as the Functions host resolves binding expressions. */
function resolveSetting(value: string, settings: Record<string, string>): string {
  return value.replace(/%([^%]+)%/g, (_, name: string) => {
    const v = settings[name];
    if (v === undefined) throw new Error(`App setting '${name}' is not set.`);
    return v;
  });
}
