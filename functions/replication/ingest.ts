import { app, type InvocationContext } from '@azure/functions';
import { getRoot } from '../../app/root';
import { ingestEvents, type IngestTiming } from '../../core/replication/ingestEvents';
import { queuedMs, toIngestEvents } from './eventShape';

/**
 * Event Hubs → staging. Never throws for bad input (it is recorded as a rejection: a poison
 * event must not block the partition); throws on dependency failures so the checkpoint stays.
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

app.eventHub('ingest', {
  eventHubName: '%HAVEN_EVENTHUBS_HUB%',
  connection: 'HAVEN_EVENTHUBS_CONNECTION',
  consumerGroup: 'ingest',
  cardinality: 'many',
  handler: ingestHandler,
});
