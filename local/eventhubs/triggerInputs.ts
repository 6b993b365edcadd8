import type { PartitionContext, ReceivedEventData } from '@azure/event-hubs';
import type { InvokeInput } from '../host/plugin';

/**
 * What the Functions host hands an `eventHubTrigger` function for one batch of a partition:
 * one invocation with the whole batch and per-event metadata arrays (cardinality many), or one
 * invocation per event (cardinality one), with the metadata the Functions host binds.
 */
export function triggerInputs(
  events: ReceivedEventData[],
  ctx: PartitionContext,
  many: boolean,
  dataType: string,
): InvokeInput[] {
  const partitionContext = {
    consumerGroup: ctx.consumerGroup,
    eventHubName: ctx.eventHubName,
    fullyQualifiedNamespace: ctx.fullyQualifiedNamespace,
    partitionId: ctx.partitionId,
  };
  if (many)
    return [
      {
        triggerValue: batchBodies(events, dataType),
        triggerMetadata: {
          partitionContext,
          enqueuedTimeUtcArray: events.map((e) => e.enqueuedTimeUtc.toISOString()),
          sequenceNumberArray: events.map((e) => e.sequenceNumber),
          offsetArray: events.map((e) => e.offset),
          partitionKeyArray: events.map((e) => e.partitionKey ?? null),
          propertiesArray: events.map((e) => e.properties ?? {}),
          systemPropertiesArray: events.map(systemProperties),
        },
      },
    ];
  return events.map((e) => ({
    triggerValue: batchBodies([e], dataType)[0],
    triggerMetadata: {
      partitionContext,
      enqueuedTimeUtc: e.enqueuedTimeUtc.toISOString(),
      sequenceNumber: e.sequenceNumber,
      offset: e.offset,
      partitionKey: e.partitionKey ?? null,
      properties: e.properties ?? {},
      systemProperties: systemProperties(e),
    },
  }));
}

/**
 * Bodies of one invocation. The worker protocol carries a batch as one typed collection, so a
 * batch is uniform: all parsed JSON when every body is JSON, otherwise all Buffers (JSON ones as
 * their raw UTF-8 bytes) so binary is never mangled. `dataType` 'binary' / 'string' force a type.
 */
function batchBodies(events: ReceivedEventData[], dataType: string): unknown[] {
  const raw = events.map((e) => e.body as unknown);
  if (dataType === 'binary')
    return raw.map((b) => (Buffer.isBuffer(b) ? b : Buffer.from(JSON.stringify(b))));
  if (dataType === 'string')
    return raw.map((b) => (Buffer.isBuffer(b) ? b.toString('utf8') : JSON.stringify(b)));
  const parsed = events.map(bodyOf);
  return parsed.some((b) => Buffer.isBuffer(b))
    ? raw.map((b) => (Buffer.isBuffer(b) ? b : Buffer.from(JSON.stringify(b))))
    : parsed;
}

/**
 * The event body as a function sees it: binary stays a Buffer; JSON (what the SDK sends for
 * objects and strings) becomes the value. Only bodies that look like JSON are parsed, so a
 * large binary payload is never turned into a string.
 */
function bodyOf(e: ReceivedEventData): unknown {
  const body = e.body as unknown;
  if (!Buffer.isBuffer(body)) return body;
  const ct = e.contentType?.toLowerCase();
  let i = 0;
  while (
    i < body.length &&
    (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09)
  )
    i++;
  const c = body[i];
  const looksJson =
    ct?.includes('json') ||
    c === 0x7b || // {
    c === 0x5b || // [
    c === 0x22 || // "
    c === 0x2d || // -
    (c !== undefined && c >= 0x30 && c <= 0x39) ||
    c === 0x74 || // true
    c === 0x66 || // false
    c === 0x6e; // null
  if (!looksJson) return body;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return body;
  }
}

function systemProperties(e: ReceivedEventData): Record<string, unknown> {
  return {
    ...(e.systemProperties ?? {}),
    'x-opt-sequence-number': e.sequenceNumber,
    'x-opt-offset': e.offset,
    'x-opt-enqueued-time': e.enqueuedTimeUtc.toISOString(),
    ...(e.partitionKey ? { 'x-opt-partition-key': e.partitionKey } : {}),
    SequenceNumber: e.sequenceNumber,
    Offset: e.offset,
    EnqueuedTimeUtc: e.enqueuedTimeUtc.toISOString(),
    PartitionKey: e.partitionKey ?? null,
  };
}
