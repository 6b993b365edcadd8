import * as path from 'node:path';
import { EventHubProducerClient, type EventDataBatch } from '@azure/event-hubs';
import { BlockBlobClient } from '@azure/storage-blob';
import {
  BATCH_CONTENT_TYPE,
  CLAIM_CONTENT_TYPE,
  MAX_INLINE_DATA_BYTES,
  MAX_INLINE_EVENT_BYTES,
  claimBlobPath,
  dataBytes,
  makeBatchRef,
  peekHeader,
} from '../core/batch';
import { HavenError } from '../core/errors';
import { startLimited } from '../core/mapLimit';
import type { AgentIdentity } from './agentState';
import type { ControlPlaneClient, IngestCredentials } from './controlPlaneClient';
import type { BatchSink, Outbound } from './batchSink';
import { CaptureSink } from './captureSink';
import { sleep } from './fsUtil';
import { SendRate } from './sendRate';
import type { Spool, SpoolEntry } from './spool';

/** Claim-check PUTs in flight per send. */
const CLAIM_UPLOADS_IN_FLIGHT = 8;
/** Spooled batches whose claim checks upload ahead, while earlier ones are being sent. */
const PREPARE_AHEAD = 8;
/** ... and their envelope bytes (batches go up to 32 MiB: bounds the memory they hold). */
const PREPARE_AHEAD_BYTES = 48 * 1024 * 1024;

const itemKey = (e: SpoolEntry) => `${e.diskId}/${e.generation}/${e.seq}`;

/**
 * Event Hubs sink: partition key = machineId, publisher path `<hub>/publishers/<machineId>`,
 * with the short-lived SAS the control plane issues (refreshed 5 minutes before expiry).
 * Envelopes above MAX_INLINE_EVENT_BYTES go to `incoming/<machineId>/…` with the blob SAS
 * first; the event then carries the claim-check reference.
 */
export class EventHubsSink implements BatchSink {
  private client?: EventHubProducerClient;
  private creds?: IngestCredentials;

  constructor(
    private readonly machineId: string,
    private readonly issue: () => Promise<IngestCredentials>,
  ) {}

  private renewing?: Promise<EventHubProducerClient>;

  /** The producer with fresh credentials; concurrent callers (prepare, send) share one renewal. */
  private producer(): Promise<EventHubProducerClient> {
    const soon = Date.now() + 5 * 60_000;
    if (
      this.client &&
      this.creds &&
      Date.parse(this.creds.eventHubs.expiresAt) > soon &&
      Date.parse(this.creds.blob.expiresAt) > soon
    ) {
      return Promise.resolve(this.client);
    }
    this.renewing ??= this.renew().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renew(): Promise<EventHubProducerClient> {
    await this.client?.close().catch(() => undefined);
    this.client = undefined;
    const c = await this.issue();
    const eh = c.eventHubs;
    const host = new URL(eh.endpoint.replace(/^sb:/, 'http:')).hostname;
    const local = eh.useDevelopmentEmulator ?? /^(localhost|127\.|\[?::1)/.test(host);
    const conn =
      `Endpoint=${eh.endpoint};SharedAccessSignature=${eh.sasToken};` +
      `EntityPath=${eh.hub}/publishers/${eh.publisher}` +
      (local ? ';UseDevelopmentEmulator=true' : '');
    this.client = new EventHubProducerClient(conn);
    this.creds = c;
    return this.client;
  }

  /** Claim uploads started ahead by `prepare`, by spool key. */
  private prepared = new Map<string, Promise<OutboundEvent>>();

  prepare(item: Outbound): void {
    const k = itemKey(item.entry);
    if (this.prepared.has(k)) return;
    const p = this.toEvent(item.envelope);
    p.catch(() => this.prepared.delete(k)); // sent later without it (and its error then)
    this.prepared.set(k, p);
  }

  /** The event for an envelope: itself, or its claim check once the upload has landed. */
  private async toEvent(envelope: Buffer): Promise<OutboundEvent> {
    await this.producer();
    const creds = this.creds!;
    const header = peekHeader(envelope);
    let body: Buffer = envelope;
    let contentType = BATCH_CONTENT_TYPE;
    const plain = dataBytes(header);
    // Ingest refuses an inline batch of more data than it decodes at once (however well it compressed).
    if (envelope.length > MAX_INLINE_EVENT_BYTES || plain > MAX_INLINE_DATA_BYTES) {
      const blobPath = claimBlobPath(header);
      const url = `${creds.blob.containerUrl.replace(/\/+$/, '')}/${blobPath}?${creds.blob.sas.replace(/^\?/, '')}`;
      await new BlockBlobClient(url).uploadData(envelope, {
        blobHTTPHeaders: { blobContentType: BATCH_CONTENT_TYPE },
      });
      body = Buffer.from(JSON.stringify(makeBatchRef(header, envelope)));
      contentType = CLAIM_CONTENT_TYPE;
    }
    return {
      body,
      contentType,
      properties: { diskId: header.diskId, generation: header.generation, seq: header.seq },
    };
  }

  async send(items: readonly Outbound[]): Promise<void> {
    const producer = await this.producer();
    // Claim-check uploads run several at a time (one PUT each is latency-bound), most of them
    // started ahead by prepare(). Events go out in spool order as soon as the uploads they
    // reference have landed: whatever is ready goes in one Event Hubs batch while later uploads
    // still run, so a bookmark behind a large take is not held until the whole take uploaded.
    // Batches are sent one after another (one link, in order; the cloud orders by seq anyway).
    const events = startLimited(items, CLAIM_UPLOADS_IN_FLIGHT, (it) => {
      const k = itemKey(it.entry);
      const p = this.prepared.get(k) ?? this.toEvent(it.envelope);
      this.prepared.delete(k);
      return p;
    });
    let sending: Promise<void> = Promise.resolve();
    let batch: EventDataBatch | undefined;
    const flush = () => {
      if (!batch || batch.count === 0) return;
      const b = batch;
      batch = undefined;
      sending = sending.then(() => producer.sendBatch(b));
    };
    try {
      for (let i = 0; i < events.length; i++) {
        const event = await events[i]!.promise;
        batch ??= await producer.createBatch({ partitionKey: this.machineId });
        if (!batch.tryAdd(event)) {
          flush();
          batch = await producer.createBatch({ partitionKey: this.machineId });
          if (!batch.tryAdd(event)) {
            throw new HavenError(
              'too-large',
              `Event for seq ${String(event.properties.seq)} does not fit an Event Hubs batch.`,
            );
          }
        }
        if (!events[i + 1]?.settled) flush();
      }
      flush();
    } finally {
      // A failed upload or send fails the whole call (the sender retries it); no send is left behind.
      await sending.catch(() => undefined);
      await Promise.allSettled(events.map((e) => e.promise));
    }
    await sending;
  }

  async close(): Promise<void> {
    this.prepared.clear();
    await this.client?.close().catch(() => undefined);
    this.client = undefined;
  }
}

interface OutboundEvent {
  body: Buffer;
  contentType: string;
  properties: { diskId: string; generation: number; seq: number };
}

export interface SenderEvents {
  onError?: (e: unknown, attempt: number, retryInMs: number) => void;
  onSent?: (entries: readonly SpoolEntry[], bytes: number) => void;
}

/**
 * Drains the spool in order into the sink, acking (and so freeing) only what the sink
 * confirmed. Retries forever with capped exponential backoff and jitter.
 */
export class Sender {
  private idleWaiters: (() => void)[] = [];
  /** The save of the last take's ack (one at a time, behind the spool's appends). */
  private acking: Promise<void> = Promise.resolve();
  lastError?: string;
  /** Bytes Event Hubs acknowledged per second lately (the heartbeat's promised RPO). */
  readonly rate = new SendRate();

  constructor(
    private readonly spool: Spool,
    private readonly sink: BatchSink,
    private readonly events: SenderEvents = {},
    private readonly maxBytesPerSend = 32 * 1024 * 1024,
  ) {}

  /** Resolves when nothing is pending in the spool. */
  drained(signal?: AbortSignal): Promise<void> {
    if (this.spool.pending().length === 0) return this.acking.catch(() => undefined);
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.idleWaiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      const pending = this.spool.pending();
      if (pending.length === 0) {
        // Drained means saved: a caller may stop the agent next.
        await this.acking.catch(() => undefined);
        // Appended while the save ran: its wake-up came before this wait would have begun.
        if (this.spool.pending().length > 0) continue;
        for (const w of this.idleWaiters.splice(0)) w();
        await this.spool.changed(signal);
        continue;
      }
      const take: SpoolEntry[] = [];
      let bytes = 0;
      for (const e of pending) {
        if (take.length > 0 && bytes + e.length > this.maxBytesPerSend) break;
        take.push(e);
        bytes += e.length;
      }
      try {
        const items = await Promise.all(
          take.map(async (entry) => ({ entry, envelope: await this.spool.read(entry) })),
        );
        // The next ones start their uploads while these are sent and acknowledged.
        if (this.sink.prepare) {
          const ahead: SpoolEntry[] = [];
          let aheadBytes = 0;
          for (const e of pending.slice(take.length, take.length + PREPARE_AHEAD)) {
            if (ahead.length > 0 && aheadBytes + e.length > PREPARE_AHEAD_BYTES) break;
            ahead.push(e);
            aheadBytes += e.length;
          }
          void Promise.all(
            ahead.map(async (entry) =>
              this.sink.prepare!({ entry, envelope: await this.spool.read(entry) }),
            ),
          ).catch(() => undefined);
        }
        await this.sink.send(items);
        // Acknowledged at once; the save waits behind the spool's appends (a write and a sync
        // of up to 48 MiB), so the next take goes out meanwhile. One save at a time: a failed
        // one surfaces here, on the next take.
        const saved = this.spool.ack(take);
        saved.catch(() => undefined);
        const previous = this.acking;
        this.acking = saved;
        await previous;
        this.rate.record(bytes);
        this.events.onSent?.(take, bytes);
        attempt = 0;
        this.lastError = undefined;
      } catch (e) {
        attempt++;
        const wait = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
        this.lastError = (e as Error).message;
        this.events.onError?.(e, attempt, wait);
        await this.sink.close().catch(() => undefined);
        await sleep(wait, signal);
      }
    }
    await this.acking.catch(() => undefined);
  }
}

/** The agent's sink: Event Hubs with the control plane's ingest token, or a capture dir. */
export function sinkFor(capture?: string) {
  return (ident: AgentIdentity, api: ControlPlaneClient): BatchSink =>
    capture
      ? new CaptureSink(path.resolve(capture))
      : new EventHubsSink(ident.machineId, () => api.ingestToken(ident.machineId));
}
