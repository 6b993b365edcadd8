// rhea exports a Container instance whose API lives on its prototype; a namespace import would drop it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import rhea = require('rhea');
import type { Delivery, EventContext, Receiver } from 'rhea';
import {
  amqpTypes,
  BATCH_FORMAT,
  batchParts,
  readAnnotations,
  splitSections,
  withAnnotations,
} from './amqpMessage';
import { parseAddress } from './address';
import { EmulatorError, notFound, UNAUTHORIZED, type AmqpError } from './emulatorError';
import { EntityLinks } from './entityLinks';
import { MAX_MESSAGE_BYTES } from './emulatorOptions';
import { partitionForKey, type Hub } from './eventHubStore';
import type { PartitionLog } from './partitionLog';

const ANN_SEQ = 'x-opt-sequence-number';
const ANN_OFFSET = 'x-opt-offset';
const ANN_TIME = 'x-opt-enqueued-time';
const ANN_KEY = 'x-opt-partition-key';
// The service stamps events sent through a publisher endpoint with the publisher's name.
const ANN_PUBLISHER = 'x-opt-publisher';

interface ProducerLink {
  hub: Hub;
  partition?: PartitionLog;
  publisher?: string;
}

/** Links the clients send events on (our receivers): authorization, partition choice, append. */
export class ProducerLinks extends EntityLinks {
  private readonly producers = new WeakMap<Receiver, ProducerLink>();

  onOpen(ctx: EventContext): void {
    const receiver = ctx.receiver!;
    const remote = this.remoteAttach<{ target?: { address?: string }; source?: unknown }>(receiver);
    receiver.set_target(remote.target as rhea.TerminusOptions);
    receiver.set_source(remote.source as rhea.Source);
    const addr = parseAddress(remote.target?.address);
    if (addr.kind === 'cbs' || addr.kind === 'management') return;
    try {
      if (addr.kind !== 'hub') throw notFound(`sb://${this.host}/${remote.target?.address ?? ''}`);
      const hub = this.hubs.hub(addr.hub);
      const partition =
        addr.partition !== undefined ? this.hubs.partition(hub, addr.partition) : undefined;
      const path = [hub.def.name.toLowerCase()];
      if (addr.partition !== undefined) path.push('partitions', addr.partition);
      if (addr.publisher !== undefined) path.push('publishers', addr.publisher.toLowerCase());
      const claim = this.auth.authorize(ctx.connection, path, 'Send');
      this.auth.trackLink(ctx.connection, receiver, path, 'Send');
      (
        receiver as unknown as { local: { attach: Record<string, unknown> } }
      ).local.attach.max_message_size = MAX_MESSAGE_BYTES;
      this.producers.set(receiver, {
        hub,
        partition,
        publisher: claim.publisher ?? addr.publisher,
      });
    } catch (e) {
      this.refuse(receiver, e);
    }
  }

  /** Nothing more is accepted on the link (its token expired). */
  forget(receiver: Receiver): void {
    this.producers.delete(receiver);
  }

  ingest(ctx: EventContext): void {
    const receiver = ctx.receiver!;
    const delivery = ctx.delivery!;
    const link = this.producers.get(receiver);
    if (!link) {
      delivery.reject({ condition: UNAUTHORIZED, description: 'Link is not authorized.' });
      return;
    }
    const format = (ctx as unknown as { format?: number }).format ?? 0;
    const raw = Buffer.isBuffer(ctx.message)
      ? (ctx.message as unknown as Buffer)
      : (rhea as unknown as { message: { encode(m: unknown): Buffer } }).message.encode(
          ctx.message,
        );
    try {
      if (raw.length > MAX_MESSAGE_BYTES) {
        throw new EmulatorError(
          'amqp:link:message-size-exceeded',
          413,
          `The received message (size ${raw.length} bytes) exceeds the limit (${MAX_MESSAGE_BYTES} bytes).`,
        );
      }
      const outer = splitSections(raw);
      const outerAnn = readAnnotations(outer);
      const parts = format === BATCH_FORMAT ? batchParts(outer) : [raw];
      const partSections = format === BATCH_FORMAT ? parts.map(splitSections) : [outer];
      const keys = partSections.map((s) => {
        const k = readAnnotations(s)[ANN_KEY] ?? outerAnn[ANN_KEY];
        return k === undefined || k === null ? undefined : String(k);
      });
      if (link.publisher !== undefined) {
        for (let i = 0; i < keys.length; i++) {
          const ann = readAnnotations(partSections[i]!);
          const claimed = keys[i] ?? ann[ANN_PUBLISHER] ?? ann['x-opt-publisher-name'];
          if (
            claimed !== undefined &&
            String(claimed).toLowerCase() !== link.publisher.toLowerCase()
          ) {
            throw new EmulatorError(
              UNAUTHORIZED,
              401,
              `Publisher '${link.publisher}' cannot send as '${String(claimed)}'. status-code: 401`,
            );
          }
          keys[i] = link.publisher;
        }
      }
      if (parts.length === 0) {
        delivery.accept();
        return;
      }
      let log = link.partition;
      if (!log) {
        const key = keys[0];
        if (keys.some((k) => k !== key)) {
          throw new EmulatorError(
            'com.microsoft:argument-error',
            400,
            'A batch must use one partition key.',
          );
        }
        const n = link.hub.partitions.length;
        const index = key !== undefined ? partitionForKey(key, n) : link.hub.roundRobin++ % n;
        log = link.hub.partitions[index]!;
      }
      log
        .append(parts.length, (pos, i) => {
          const extra: Record<string, unknown> = {
            [ANN_SEQ]: amqpTypes.wrap_long(pos.seq),
            [ANN_OFFSET]: String(pos.offset),
            [ANN_TIME]: amqpTypes.wrap_timestamp(pos.time),
          };
          if (keys[i] !== undefined) extra[ANN_KEY] = keys[i];
          if (link.publisher !== undefined) extra[ANN_PUBLISHER] = link.publisher;
          return withAnnotations(parts[i]!, partSections[i]!, extra);
        })
        .then(
          () => settle(delivery, undefined),
          (e: unknown) =>
            settle(delivery, { condition: 'amqp:internal-error', description: String(e) }),
        );
    } catch (e) {
      const err =
        e instanceof EmulatorError ? e : new EmulatorError('amqp:decode-error', 400, String(e));
      delivery.reject({ condition: err.condition, description: err.message });
    }
  }
}

function settle(delivery: Delivery, error: AmqpError | undefined): void {
  try {
    if (error) delivery.reject(error);
    else delivery.accept();
  } catch {
    // The producer went away before its events became durable; they are stored anyway.
  }
}
