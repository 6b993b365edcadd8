import type { EventDataBatch, EventHubProducerClient, RetryOptions } from '@azure/event-hubs';
import {
  BATCH_CONTENT_TYPE,
  CLAIM_CONTENT_TYPE,
  MAX_INLINE_DATA_BYTES,
  MAX_INLINE_EVENT_BYTES,
  claimBlobPath,
  dataBytes,
  makeBatchRef,
  peekHeader,
  type BatchHeader,
} from '../core/batch';
import { HavenError } from '../core/errors';
import { startLimited } from '../core/mapLimit';
import type { IngestCredentials } from './controlPlaneClient';
import { eventHubsSdk, storageBlobSdk } from './azureSdks';
import type { BatchSink, Outbound } from './batchSink';
import type { SpoolEntry } from './spool';

/** Claim-check PUTs in flight per send. */
const CLAIM_UPLOADS_IN_FLIGHT = 8;

const itemKey = (e: SpoolEntry) => `${e.diskId}/${e.generation}/${e.seq}`;

/**
 * The SDK's own retries stay short: the Sender retries for good, each time on a new connection,
 * and bounds every send (sender.ts `sendBudgetMs`). With the defaults (4 tries of up to 60 s,
 * 30 s apart) a send whose disposition never came back held the whole pipeline, and every point
 * cut meanwhile, for 5.5 minutes before the Sender heard of it.
 */
export const SEND_RETRIES = {
  maxRetries: 1,
  timeoutInMs: 15_000,
  retryDelayInMs: 500,
  maxRetryDelayInMs: 2_000,
  // RetryMode.Exponential, without loading the SDK for its enum (azureSdks.ts).
  mode: 0 satisfies RetryOptions['mode'],
} as const;

/**
 * How long a claim check's upload may take: 15 s, plus a second per MB (an uplink slower than
 * 1 MB/s cannot keep a busy server protected anyway). The storage SDK's `tryTimeoutInMs` is
 * only the server-side timeout parameter: without this a PUT on a stalled connection never
 * ends, and holds its envelope's memory.
 */
export const claimUploadBudgetMs = (bytes: number) => 15_000 + Math.ceil(bytes / 1_000);

/**
 * Whether an envelope goes as a claim check: too large for an event, or (however well it
 * compressed) more data than ingest decodes at once, which it refuses inline.
 */
export function travelsAsClaim(
  envelope: Buffer,
  header: BatchHeader = peekHeader(envelope),
): boolean {
  return envelope.length > MAX_INLINE_EVENT_BYTES || dataBytes(header) > MAX_INLINE_DATA_BYTES;
}

/** Where the claim check of `header`'s envelope is uploaded, with the machine's blob SAS. */
export function claimUploadUrl(
  blob: IngestCredentials['blob'],
  header: Parameters<typeof claimBlobPath>[0],
): string {
  return `${blob.containerUrl.replace(/\/+$/, '')}/${claimBlobPath(header)}?${blob.sas.replace(/^\?/, '')}`;
}

/**
 * Event Hubs sink: partition key = machineId, publisher path `<hub>/publishers/<machineId>`,
 * with the short-lived SAS the control plane issues (refreshed 5 minutes before expiry).
 * Envelopes above MAX_INLINE_EVENT_BYTES go to `incoming/<machineId>/…` with the blob SAS
 * first; the event then carries the claim-check reference.
 */
export class EventHubsSink implements BatchSink {
  readonly confirmed = true;
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
    this.client = new (eventHubsSdk().EventHubProducerClient)(conn, { retryOptions: SEND_RETRIES });
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
    if (travelsAsClaim(envelope, header)) {
      const url = claimUploadUrl(creds.blob, header);
      const retryOptions = { maxTries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 2_000 };
      const { AnonymousCredential, BlockBlobClient } = storageBlobSdk();
      await new BlockBlobClient(url, new AnonymousCredential(), { retryOptions }).uploadData(
        envelope,
        {
          blobHTTPHeaders: { blobContentType: BATCH_CONTENT_TYPE },
          abortSignal: AbortSignal.timeout(claimUploadBudgetMs(envelope.length)),
        },
      );
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
