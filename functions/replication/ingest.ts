import { app, type InvocationContext } from '@azure/functions';
import { getRoot } from '../../app/root';
import { ingestEvents, type IngestTiming } from '../../core/replication/ingestEvents';
import { queuedMs, toIngestEvents } from './eventShape';

/**
 * Event Hubs → staging. Never throws for bad input (it is recorded as a rejection: a poison
 * event must not block the partition); throws on dependency failures, and the retry policy
 * invokes the same batch again, the checkpoint before it.
 */
export async function ingestHandler(messages: unknown, context: InvocationContext): Promise<void> {
  const root = await getRoot();
  const { deps, options } = root.replication;
  const t: IngestTiming = {};
  const queued = queuedMs(context.triggerMetadata, Date.now());
  const events = toIngestEvents(messages, context.triggerMetadata);
  const out = await ingestEvents(deps, options, events, undefined, t);
  const count = (s: string) => out.filter((o) => o.status === s).length;
  context.log(
    `ingest: ${out.length} events, staged ${count('staged')}, duplicate ${count('duplicate')}, rejected ${count('rejected')}, conflict ${count('conflict')}; points durable ${t.durablePoints ?? 0}; queued ${queued ?? '?'} ms, verify + stage ${t.verifyAndStageMs} ms, durability ${t.durabilityMs} ms`,
  );
}

/**
 * Until it succeeds. Without a retry policy the Functions host checkpoints past a failed
 * invocation: its batches, already released from the agent's spool, would be lost, and the
 * disk's replica would wait at that gap for good. Ingest fails only on its dependencies (bad
 * input is recorded as a rejection), so retrying is always right; a long outage shows as the
 * partition's backlog and the RPO alert.
 */
export const INGEST_RETRY = {
  strategy: 'exponentialBackoff',
  maxRetryCount: -1,
  minimumInterval: 200,
  maximumInterval: 30_000,
} as const;

app.eventHub('ingest', {
  eventHubName: '%HAVEN_EVENTHUBS_HUB%',
  connection: 'HAVEN_EVENTHUBS_CONNECTION',
  consumerGroup: 'ingest',
  cardinality: 'many',
  retry: INGEST_RETRY,
  handler: ingestHandler,
});
