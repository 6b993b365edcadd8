import type { IngestEvent } from '../../core/replication/ingest';

type Meta = Record<string, unknown> | undefined;

/** Event body bytes whatever shape the host delivered (Buffer, bytes, string, parsed JSON). */
export function bodyBytes(m: unknown): Buffer {
  if (Buffer.isBuffer(m)) return m;
  if (m instanceof Uint8Array) return Buffer.from(m.buffer, m.byteOffset, m.byteLength);
  if (m instanceof ArrayBuffer) return Buffer.from(m);
  if (typeof m === 'string') return Buffer.from(m, 'utf8');
  // The host parses JSON bodies (claim checks) into objects.
  return Buffer.from(JSON.stringify(m ?? null), 'utf8');
}

function at(meta: Meta, key: string, i: number): unknown {
  const v = meta?.[key];
  return Array.isArray(v) ? v[i] : undefined;
}

/**
 * Maps an Event Hubs trigger invocation (cardinality many) to ingest events. Partition key,
 * publisher and position come from the metadata arrays the host supplies.
 */
export function toIngestEvents(messages: unknown, meta: Meta): IngestEvent[] {
  const list = Array.isArray(messages) ? messages : [messages];
  return list.map((m, i) => {
    const sys = (at(meta, 'systemPropertiesArray', i) ?? {}) as Record<string, unknown>;
    const pk = at(meta, 'partitionKeyArray', i) ?? sys.PartitionKey ?? sys['x-opt-partition-key'];
    const publisher = sys['x-opt-publisher'] ?? sys.Publisher;
    const seq =
      at(meta, 'sequenceNumberArray', i) ?? sys.SequenceNumber ?? sys['x-opt-sequence-number'];
    const offset = at(meta, 'offsetArray', i) ?? sys.Offset ?? sys['x-opt-offset'];
    return {
      body: bodyBytes(m),
      ...(typeof pk === 'string' && pk ? { partitionKey: pk } : {}),
      ...(typeof publisher === 'string' && publisher ? { publisher } : {}),
      ...(seq !== undefined && Number.isFinite(Number(seq)) ? { sequenceNumber: Number(seq) } : {}),
      ...(offset !== undefined ? { offset: String(offset) } : {}),
    };
  });
}

/** How long the oldest event of the invocation waited in Event Hubs (from its enqueued time). */
export function queuedMs(meta: Meta, now: number): number | undefined {
  const times = meta?.enqueuedTimeUtcArray;
  if (!Array.isArray(times)) return undefined;
  const first = Math.min(...times.map((t) => Date.parse(String(t))).filter(Number.isFinite));
  return Number.isFinite(first) ? Math.max(0, now - first) : undefined;
}
