import { app, type InvocationContext } from '@azure/functions';
import { getRoot } from '../../app/root';
import { ingestEvents } from '../../core/replication/ingest';
import { toIngestEvents } from './eventShape';

/**
 * Event Hubs → staging. Never throws for bad input (it is recorded as a rejection: a poison
 * event must not block the partition); throws on dependency failures so the checkpoint stays.
 */
export async function ingestHandler(messages: unknown, context: InvocationContext): Promise<void> {
  const root = await getRoot();
  const { deps, options } = root.replication;
  const out = await ingestEvents(deps, options, toIngestEvents(messages, context.triggerMetadata));
  const count = (s: string) => out.filter((o) => o.status === s).length;
  context.log(
    `ingest: ${out.length} events, staged ${count('staged')}, duplicate ${count('duplicate')}, rejected ${count('rejected')}, conflict ${count('conflict')}`,
  );
}

app.eventHub('ingest', {
  eventHubName: '%HAVEN_EVENTHUBS_HUB%',
  connection: 'HAVEN_EVENTHUBS_CONNECTION',
  consumerGroup: 'ingest',
  cardinality: 'many',
  handler: ingestHandler,
});
