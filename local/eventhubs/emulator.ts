import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo, Server, Socket } from 'node:net';
import { join } from 'node:path';
// rhea exports a Container instance whose API lives on its prototype; a namespace import would drop it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import rhea = require('rhea');
import type { Connection, Delivery, EventContext, Receiver, Sender } from 'rhea';
import {
  amqpTypes,
  BATCH_FORMAT,
  batchParts,
  readAnnotations,
  splitSections,
  withAnnotations,
} from './amqpMessage';
import { PartitionLog } from './partitionLog';
import { parseSasToken, verifySasSignature } from './sas';

export type AccessRight = 'Send' | 'Listen' | 'Manage';

export interface EventHubDefinition {
  name: string;
  partitions: number;
  /** `$Default` is always there. */
  consumerGroups?: string[];
  retentionHours?: number;
}

export interface SharedAccessKeyDefinition {
  name: string;
  key: string;
  /** Default: all rights. */
  rights?: AccessRight[];
}

export interface EventHubsEmulatorOptions {
  /** 0 = a free port. */
  port?: number;
  host?: string;
  dataDir: string;
  hubs: EventHubDefinition[];
  keys: SharedAccessKeyDefinition[];
  /** Log segment size (retention drops whole segments). Default 64 MiB. */
  segmentBytes?: number;
  /** How often retention runs (also at start). Default 60 s. */
  retentionCheckMs?: number;
  /** How often open links are checked against token expiry. Default 1 s. */
  tokenCheckMs?: number;
  log?: (msg: string) => void;
}

export interface RunningEventHubsEmulator {
  port: number;
  host: string;
  /** Namespace connection string for the SDK (add `;EntityPath=hub` or pass the hub name separately). */
  connectionString(keyName?: string): string;
  stop(): Promise<void>;
}

/** Event Hubs Standard's limit for one event or one batch, encoded. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

const ANN_SEQ = 'x-opt-sequence-number';
const ANN_OFFSET = 'x-opt-offset';
const ANN_TIME = 'x-opt-enqueued-time';
const ANN_KEY = 'x-opt-partition-key';
// The service stamps events sent through a publisher endpoint with the publisher's name.
const ANN_PUBLISHER = 'x-opt-publisher';
const EPOCH = 'com.microsoft:epoch';

const UNAUTHORIZED = 'amqp:unauthorized-access';
const NOT_FOUND = 'amqp:not-found';

interface Hub {
  def: EventHubDefinition;
  createdAt: Date;
  partitions: PartitionLog[];
  consumerGroups: Set<string>; // lower case
  roundRobin: number;
}

interface Claim {
  /** Lower-cased path segments of the token's resource; [] = the namespace. */
  scope: string[];
  publisher?: string;
  rights: Set<AccessRight>;
  expiresAt: number;
}

/** What a link address names. */
type Address =
  | { kind: 'cbs' }
  | { kind: 'management' }
  | { kind: 'hub'; hub: string; partition?: string; publisher?: string }
  | { kind: 'consumer'; hub: string; consumerGroup: string; partition: string }
  | { kind: 'unknown'; hub: string };

interface ConsumerLink {
  sender: Sender;
  log: PartitionLog;
  next: number;
  reading: boolean;
  epoch?: number;
  group: string;
  unsubscribe: () => void;
}

interface ConnState {
  claims: Claim[];
  consumers: Set<ConsumerLink>;
  /** Open entity links and what they were authorized for, re-checked as tokens expire. */
  links: Map<Sender | Receiver, { path: string[]; need: AccessRight }>;
}

interface AmqpError {
  condition: string;
  description: string;
}

class EmulatorError extends Error {
  constructor(
    readonly condition: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function parseAddress(address: string | undefined): Address {
  const parts = (address ?? '').split('/').filter((p) => p.length > 0);
  if (parts.length === 1 && parts[0] === '$cbs') return { kind: 'cbs' };
  if (parts.length === 1 && parts[0] === '$management') return { kind: 'management' };
  const [hub, a, b, c, d] = parts;
  if (!hub) return { kind: 'unknown', hub: '' };
  const la = a?.toLowerCase();
  if (parts.length === 1) return { kind: 'hub', hub };
  if (parts.length === 3 && la === 'partitions') return { kind: 'hub', hub, partition: b };
  if (parts.length === 3 && la === 'publishers') return { kind: 'hub', hub, publisher: b };
  if (parts.length === 5 && la === 'consumergroups' && c?.toLowerCase() === 'partitions') {
    return { kind: 'consumer', hub, consumerGroup: b!, partition: d! };
  }
  return { kind: 'unknown', hub };
}

/** Path segments of `sb://host/a/b` (any scheme, any host). */
function resourcePath(uri: string): string[] | undefined {
  const m = /^[a-z]+:\/\/[^/]+(\/.*)?$/i.exec(uri.trim());
  if (!m) return undefined;
  return (m[1] ?? '')
    .split('/')
    .filter((p) => p.length > 0)
    .map((p) => p.toLowerCase());
}

/** Stable partition for a partition key (FNV-1a over UTF-8). */
export function partitionForKey(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}

function notFound(entity: string): EmulatorError {
  // The SDK maps this description to MessagingEntityNotFoundError.
  return new EmulatorError(
    NOT_FOUND,
    404,
    `The messaging entity '${entity}' could not be found. status-code: 404`,
  );
}

function unauthorized(why: string): EmulatorError {
  return new EmulatorError(UNAUTHORIZED, 401, `Unauthorized access. ${why} status-code: 401`);
}

/** Reads the selector filter string, whichever way rhea hands the described value over. */
function selectorFilter(source: unknown): string | undefined {
  const filter = (source as { filter?: Record<string, unknown> } | undefined)?.filter;
  if (!filter) return undefined;
  for (const [k, v] of Object.entries(filter)) {
    if (!k.includes('selector-filter')) continue;
    let x: unknown = v;
    for (let i = 0; i < 3 && x && typeof x === 'object'; i++) x = (x as { value?: unknown }).value;
    if (typeof x === 'string') return x;
  }
  return undefined;
}

export async function startEventHubsEmulator(
  opts: EventHubsEmulatorOptions,
): Promise<RunningEventHubsEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const say = opts.log ?? (() => undefined);
  const keys = new Map(opts.keys.map((k) => [k.name, k]));
  if (keys.size === 0) throw new Error('at least one shared access key is required');
  mkdirSync(opts.dataDir, { recursive: true });

  const hubs = new Map<string, Hub>();
  for (const def of opts.hubs) {
    const dir = join(opts.dataDir, def.name);
    mkdirSync(dir, { recursive: true });
    const metaPath = join(dir, 'hub.json');
    let createdAt = new Date();
    if (existsSync(metaPath)) {
      createdAt = new Date(
        (JSON.parse(readFileSync(metaPath, 'utf8')) as { createdAt: string }).createdAt,
      );
    } else {
      writeFileSync(metaPath, JSON.stringify({ createdAt: createdAt.toISOString() }));
    }
    const partitions: PartitionLog[] = [];
    for (let i = 0; i < def.partitions; i++) {
      partitions.push(PartitionLog.open(join(dir, String(i)), { segmentBytes: opts.segmentBytes }));
    }
    hubs.set(def.name.toLowerCase(), {
      def,
      createdAt,
      partitions,
      consumerGroups: new Set([
        '$default',
        ...(def.consumerGroups ?? []).map((c) => c.toLowerCase()),
      ]),
      roundRobin: 0,
    });
  }

  const trimAll = (): void => {
    for (const hub of hubs.values()) {
      const cutoff = Date.now() - (hub.def.retentionHours ?? 24) * 3600_000;
      for (const p of hub.partitions) p.trim(cutoff);
    }
  };
  trimAll();
  const trimTimer = setInterval(trimAll, opts.retentionCheckMs ?? 60_000);
  trimTimer.unref();

  const conns = new Map<Connection, ConnState>();
  const groups = new Map<string, Set<ConsumerLink>>();
  const container = rhea.create_container({
    id: 'haven-eventhubs-emulator',
    autoaccept: false,
    credit_window: 100,
  } as rhea.ContainerOptions);
  const mechanisms = container.sasl_server_mechanisms as {
    enable_anonymous(): void;
    enable_plain(cb: (user: string, pass: string) => boolean): void;
  };
  mechanisms.enable_anonymous();
  mechanisms.enable_plain((user, pass) => keys.get(user)?.key === pass);

  const state = (c: Connection): ConnState => {
    let s = conns.get(c);
    if (!s) {
      s = { claims: [], consumers: new Set(), links: new Map() };
      conns.set(c, s);
    }
    return s;
  };

  const hubOf = (name: string): Hub => {
    const hub = hubs.get(name.toLowerCase());
    if (!hub) throw notFound(`sb://${host}/${name}`);
    return hub;
  };

  const partitionOf = (hub: Hub, id: string | undefined): PartitionLog => {
    const n = id !== undefined && /^\d+$/.test(id) ? Number(id) : -1;
    const p = hub.partitions[n];
    if (!p) throw notFound(`sb://${host}/${hub.def.name}/Partitions/${id}`);
    return p;
  };

  /** Verifies a SAS token; returns the claim it grants. */
  const verifyToken = (token: unknown): Claim => {
    if (typeof token !== 'string') throw unauthorized('A SAS token is required.');
    const sas = parseSasToken(token);
    if (!sas) throw unauthorized('Malformed SharedAccessSignature.');
    const key = keys.get(sas.keyName);
    if (!key || !verifySasSignature(sas, key.key)) {
      throw unauthorized(`Invalid signature for key '${sas.keyName}'.`);
    }
    if (sas.expiry * 1000 <= Date.now()) throw unauthorized('The token has expired.');
    const scope = resourcePath(sas.resource);
    if (!scope) throw unauthorized('Malformed token resource.');
    let publisher: string | undefined;
    if (scope.length >= 3 && scope[1] === 'publishers') {
      publisher = scope[2];
      scope.length = 3;
    }
    if (scope.length > 0) hubOf(scope[0]!);
    return {
      scope,
      publisher,
      rights: new Set(key.rights ?? ['Send', 'Listen', 'Manage']),
      expiresAt: sas.expiry * 1000,
    };
  };

  /**
   * Whether `claim` allows `need` on the entity at `path` (lower-cased segments). A publisher
   * token may only send, and only to its hub (bound to the publisher) or its publisher path.
   */
  const allows = (claim: Claim, path: string[], need: AccessRight | 'Read'): boolean => {
    if (claim.expiresAt <= Date.now()) return false;
    if (claim.publisher !== undefined) {
      if (need !== 'Send' || (!claim.rights.has('Send') && !claim.rights.has('Manage')))
        return false;
      if (path[0] !== claim.scope[0]) return false;
      return (
        path.length === 1 ||
        (path.length === 3 && path[1] === 'publishers' && path[2] === claim.publisher)
      );
    }
    if (need !== 'Read' && !claim.rights.has(need) && !claim.rights.has('Manage')) return false;
    return claim.scope.every((seg, i) => path[i] === seg);
  };

  /** The claim on this connection that authorizes the access, preferring unrestricted ones. */
  const authorize = (s: ConnState, path: string[], need: AccessRight | 'Read'): Claim => {
    const ok = s.claims.filter((c) => allows(c, path, need));
    const best = ok.find((c) => c.publisher === undefined) ?? ok[0];
    if (!best) throw unauthorized(`No valid token for '${path.join('/')}' (${need}).`);
    return best;
  };

  const replySender = (conn: Connection, replyTo: unknown, via: string): Sender | undefined => {
    let fallback: Sender | undefined;
    for (const link of linksOf(conn)) {
      if (!link.is_sender() || !link.is_open()) continue;
      const remote = (
        link as unknown as {
          remote: { attach?: { target?: { address?: string }; source?: { address?: string } } };
        }
      ).remote.attach;
      if (remote?.target?.address === replyTo) return link as Sender;
      if (remote?.source?.address === via) fallback = link as Sender;
    }
    return fallback;
  };

  const respond = (
    ctx: EventContext,
    via: string,
    request: rhea.Message,
    status: number,
    description: string,
    body?: unknown,
    condition?: string,
  ): void => {
    const sender = replySender(ctx.connection, request.reply_to, via);
    // The SDK reads either spelling (core-amqp's request-response link accepts both).
    const props: Record<string, unknown> = {
      'status-code': status,
      'status-description': description,
      statusCode: status,
      statusDescription: description,
    };
    if (condition) props['error-condition'] = condition;
    sender?.send({
      correlation_id: request.message_id,
      to: request.reply_to,
      application_properties: props,
      body,
    });
  };

  const onCbs = (ctx: EventContext): void => {
    const request = ctx.message!;
    const props = request.application_properties ?? {};
    try {
      if (props.operation !== 'put-token') {
        throw new EmulatorError(
          'amqp:not-implemented',
          501,
          `Unsupported $cbs operation '${String(props.operation)}'.`,
        );
      }
      if (typeof props.type === 'string' && props.type.toLowerCase().includes('jwt')) {
        throw unauthorized('Only SAS tokens are accepted by the emulator.');
      }
      const claim = verifyToken(request.body);
      const audience = resourcePath(String(props.name ?? ''));
      if (!audience) throw new EmulatorError('com.microsoft:argument-error', 400, 'Bad audience.');
      if (audience.length > 0) checkEntity(audience);
      const need: AccessRight | 'Read' =
        audience[1] === 'consumergroups'
          ? 'Listen'
          : audience[1] === '$management'
            ? 'Read'
            : audience.length === 0
              ? 'Read'
              : 'Send';
      if (!allows(claim, audience, need)) {
        throw unauthorized(`The token does not grant '${need}' on '${audience.join('/')}'.`);
      }
      state(ctx.connection).claims.push(claim);
      respond(ctx, '$cbs', request, 202, 'Accepted');
    } catch (e) {
      const err =
        e instanceof EmulatorError ? e : new EmulatorError('amqp:internal-error', 500, String(e));
      say(`cbs put-token refused: ${err.message}`);
      respond(ctx, '$cbs', request, err.status, err.message, undefined, err.condition);
    }
    ctx.delivery?.accept();
  };

  /** Throws not-found for audiences naming a hub, consumer group or partition that doesn't exist. */
  const checkEntity = (path: string[]): void => {
    const hub = hubOf(path[0]!);
    if (path[1] === 'consumergroups') {
      if (!path[2] || !hub.consumerGroups.has(path[2])) {
        throw notFound(`sb://${host}/${hub.def.name}/ConsumerGroups/${path[2] ?? ''}`);
      }
      if (path[3] === 'partitions') partitionOf(hub, path[4]);
    } else if (path[1] === 'partitions') {
      partitionOf(hub, path[2]);
    }
  };

  const onManagement = (ctx: EventContext): void => {
    const request = ctx.message!;
    const props = request.application_properties ?? {};
    try {
      if (props.operation !== 'READ') {
        throw new EmulatorError(
          'amqp:not-implemented',
          501,
          `Unsupported operation '${String(props.operation)}'.`,
        );
      }
      const hub = hubOf(String(props.name ?? ''));
      const s = state(ctx.connection);
      if (props.security_token !== undefined) {
        const claim = verifyToken(props.security_token);
        s.claims.push(claim);
      }
      authorize(s, [hub.def.name.toLowerCase(), '$management'], 'Read');
      const type = String(props.type ?? '');
      if (type === 'com.microsoft:eventhub') {
        respond(ctx, '$management', request, 200, 'OK', {
          name: hub.def.name,
          created_at: hub.createdAt,
          partition_count: amqpTypes.wrap(hub.partitions.length),
          partition_ids: hub.partitions.map((_, i) => String(i)),
          type: 'com.microsoft:eventhub',
        });
      } else if (type === 'com.microsoft:partition') {
        const id = String(props.partition ?? '');
        const log = partitionOf(hub, id);
        const last = log.lastCommitted;
        respond(ctx, '$management', request, 200, 'OK', {
          name: hub.def.name,
          partition: id,
          type: 'com.microsoft:partition',
          begin_sequence_number: amqpTypes.wrap_long(log.beginSequenceNumber),
          last_enqueued_sequence_number: amqpTypes.wrap_long(last ? last.seq : -1),
          last_enqueued_offset: last ? String(last.offset) : '-1',
          last_enqueued_time_utc: new Date(last ? last.time : 0),
          is_partition_empty: !last,
        });
      } else {
        throw new EmulatorError('com.microsoft:argument-error', 400, `Unknown type '${type}'.`);
      }
    } catch (e) {
      const err =
        e instanceof EmulatorError ? e : new EmulatorError('amqp:internal-error', 500, String(e));
      respond(ctx, '$management', request, err.status, err.message, undefined, err.condition);
    }
    ctx.delivery?.accept();
  };

  const refuse = (link: Sender | Receiver, err: unknown): void => {
    const e =
      err instanceof EmulatorError
        ? err
        : new EmulatorError('amqp:internal-error', 500, String(err));
    say(`link '${link.name}' refused: ${e.message}`);
    link.close({ condition: e.condition, description: e.message } as AmqpError);
  };

  interface ProducerLink {
    hub: Hub;
    partition?: PartitionLog;
    publisher?: string;
  }
  const producers = new WeakMap<Receiver, ProducerLink>();

  container.on('receiver_open', (ctx: EventContext) => {
    const receiver = ctx.receiver!;
    const remote = (
      receiver as unknown as {
        remote: { attach: { target?: { address?: string }; source?: unknown } };
      }
    ).remote.attach;
    receiver.set_target(remote.target as rhea.TerminusOptions);
    receiver.set_source(remote.source as rhea.Source);
    const addr = parseAddress(remote.target?.address);
    if (addr.kind === 'cbs' || addr.kind === 'management') return;
    try {
      if (addr.kind !== 'hub') throw notFound(`sb://${host}/${remote.target?.address ?? ''}`);
      const hub = hubOf(addr.hub);
      const partition = addr.partition !== undefined ? partitionOf(hub, addr.partition) : undefined;
      const path = [hub.def.name.toLowerCase()];
      if (addr.partition !== undefined) path.push('partitions', addr.partition);
      if (addr.publisher !== undefined) path.push('publishers', addr.publisher.toLowerCase());
      const claim = authorize(state(ctx.connection), path, 'Send');
      state(ctx.connection).links.set(receiver, { path, need: 'Send' });
      (
        receiver as unknown as { local: { attach: Record<string, unknown> } }
      ).local.attach.max_message_size = MAX_MESSAGE_BYTES;
      producers.set(receiver, { hub, partition, publisher: claim.publisher ?? addr.publisher });
    } catch (e) {
      refuse(receiver, e);
    }
  });

  const ingest = (ctx: EventContext): void => {
    const receiver = ctx.receiver!;
    const delivery = ctx.delivery!;
    const link = producers.get(receiver);
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
  };

  const settle = (delivery: Delivery, error: AmqpError | undefined): void => {
    try {
      if (error) delivery.reject(error);
      else delivery.accept();
    } catch {
      // The producer went away before its events became durable; they are stored anyway.
    }
  };

  container.on('message', (ctx: EventContext) => {
    const address = (
      ctx.receiver as unknown as { remote: { attach: { target?: { address?: string } } } }
    ).remote.attach.target?.address;
    if (address === '$cbs') onCbs(ctx);
    else if (address === '$management') onManagement(ctx);
    else ingest(ctx);
  });

  const pump = (c: ConsumerLink): void => {
    if (c.reading) return;
    const { sender, log } = c;
    if (!sender.is_open()) return;
    c.next = Math.max(c.next, log.beginSequenceNumber);
    if (!sender.sendable() || c.next >= log.endSequenceNumber) return;
    c.reading = true;
    log
      .read(c.next, Math.max(1, (sender as unknown as { credit: number }).credit), 4 * 1024 * 1024)
      .then((records) => {
        c.reading = false;
        for (const payload of records) {
          if (!sender.is_open() || !sender.sendable()) break;
          sender.send(payload, undefined, 0);
          c.next++;
        }
        pump(c);
      })
      .catch((e: unknown) => {
        c.reading = false;
        say(`read failed: ${String(e)}`);
        setTimeout(() => pump(c), 50);
      });
  };

  const dropConsumer = (c: ConsumerLink, s?: ConnState): void => {
    c.unsubscribe();
    groups.get(c.group)?.delete(c);
    s?.consumers.delete(c);
  };

  container.on('sender_open', (ctx: EventContext) => {
    const sender = ctx.sender!;
    const remote = (
      sender as unknown as {
        remote: {
          attach: {
            source?: { address?: string };
            target?: unknown;
            properties?: Record<string, unknown>;
            snd_settle_mode?: number;
          };
        };
      }
    ).remote.attach;
    sender.set_source(remote.source as rhea.Source);
    sender.set_target(remote.target as rhea.TerminusOptions);
    const addr = parseAddress(remote.source?.address);
    if (addr.kind === 'consumer' && remote.snd_settle_mode !== 0) {
      // Events are not redelivered on release (positions are the client's business), so they
      // go out pre-settled: no disposition round trip per event.
      (
        sender as unknown as { local: { attach: { snd_settle_mode: number } } }
      ).local.attach.snd_settle_mode = 1;
    }
    if (addr.kind === 'cbs' || addr.kind === 'management') return;
    try {
      if (addr.kind !== 'consumer') throw notFound(`sb://${host}/${remote.source?.address ?? ''}`);
      const hub = hubOf(addr.hub);
      const cg = addr.consumerGroup.toLowerCase();
      if (!hub.consumerGroups.has(cg))
        throw notFound(`sb://${host}/${hub.def.name}/ConsumerGroups/${addr.consumerGroup}`);
      const log = partitionOf(hub, addr.partition);
      const s = state(ctx.connection);
      const path = [hub.def.name.toLowerCase(), 'consumergroups', cg, 'partitions', addr.partition];
      authorize(s, path, 'Listen');
      s.links.set(sender, { path, need: 'Listen' });
      const next = startPosition(log, selectorFilter(remote.source));
      const epochRaw = remote.properties?.[EPOCH];
      const epoch = epochRaw === undefined || epochRaw === null ? undefined : Number(epochRaw);
      const group = `${hub.def.name.toLowerCase()}/${cg}/${addr.partition}`;
      const members = groups.get(group) ?? new Set<ConsumerLink>();
      groups.set(group, members);
      for (const other of [...members]) {
        if (epoch !== undefined && (other.epoch === undefined || other.epoch <= epoch)) {
          // A newer owner takes the partition over (how load balancing hands partitions around).
          other.sender.close({
            condition: 'amqp:link:stolen',
            description: `New receiver with higher epoch of '${epoch}' is created hence current receiver with epoch '${other.epoch ?? 'none'}' is getting disconnected.`,
          } as AmqpError);
          dropConsumer(other, conns.get(other.sender.connection));
        } else if (other.epoch !== undefined && (epoch === undefined || other.epoch > epoch)) {
          throw new EmulatorError(
            'amqp:link:stolen',
            410,
            `Receiver with epoch '${other.epoch}' already exists; a receiver with epoch '${epoch ?? 'none'}' cannot be created.`,
          );
        }
      }
      const c: ConsumerLink = {
        sender,
        log,
        next,
        reading: false,
        epoch,
        group,
        unsubscribe: () => undefined,
      };
      c.unsubscribe = log.onCommit(() => pump(c));
      members.add(c);
      s.consumers.add(c);
      consumers.set(sender, c);
      setImmediate(() => pump(c));
    } catch (e) {
      refuse(sender, e);
    }
  });
  const consumers = new WeakMap<Sender, ConsumerLink>();

  container.on('sendable', (ctx: EventContext) => {
    const c = consumers.get(ctx.sender!);
    if (c) pump(c);
  });
  const onLinkGone = (ctx: EventContext): void => {
    const c = ctx.sender ? consumers.get(ctx.sender) : undefined;
    if (c) dropConsumer(c, conns.get(ctx.connection));
  };
  container.on('sender_close', onLinkGone);
  container.on('sender_error', onLinkGone);
  container.on('connection_open', (ctx: EventContext) => zeroCopyTransfers(ctx.connection));
  const onConnGone = (ctx: EventContext): void => {
    const s = conns.get(ctx.connection);
    if (!s) return;
    for (const c of [...s.consumers]) dropConsumer(c, s);
    conns.delete(ctx.connection);
  };
  container.on('connection_close', onConnGone);
  container.on('disconnected', onConnGone);
  container.on('error', (e: unknown) => say(`amqp error: ${String(e)}`));
  container.on('connection_error', () => undefined);
  container.on('receiver_error', () => undefined);
  container.on('session_error', () => undefined);

  // As the service does, a link whose token expired (and was not renewed through $cbs) is
  // detached with an authorization error; the client has to put a fresh token and re-attach.
  const expiryTimer = setInterval(() => {
    const now = Date.now();
    for (const s of conns.values()) {
      s.claims = s.claims.filter((c) => c.expiresAt > now);
      for (const [link, grant] of s.links) {
        if (!link.is_open()) {
          s.links.delete(link);
          continue;
        }
        if (s.claims.some((c) => allows(c, grant.path, grant.need))) continue;
        s.links.delete(link);
        producers.delete(link as Receiver); // nothing more is accepted on it
        link.close({
          condition: UNAUTHORIZED,
          description: 'Unauthorized access. The token has expired. status-code: 401',
        } as AmqpError);
      }
    }
  }, opts.tokenCheckMs ?? 1000);
  expiryTimer.unref();

  const sockets = new Set<Socket>();
  const server = container.listen({
    port: opts.port ?? 0,
    host,
  } as rhea.ServerConnectionOptions) as unknown as Server;
  server.on('connection', (sock: Socket) => {
    sock.setNoDelay(true);
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (e) {
    clearInterval(trimTimer);
    clearInterval(expiryTimer);
    for (const hub of hubs.values()) await Promise.all(hub.partitions.map((p) => p.close()));
    throw e;
  }
  const port = (server.address() as AddressInfo).port;
  say(`Event Hubs emulator listening on ${host}:${port}`);

  return {
    port,
    host,
    connectionString(keyName?: string): string {
      const key = keyName ? keys.get(keyName) : opts.keys[0];
      if (!key) throw new Error(`no shared access key named '${keyName}'`);
      return `Endpoint=sb://${host}:${port};SharedAccessKeyName=${key.name};SharedAccessKey=${key.key};UseDevelopmentEmulator=true`;
    },
    async stop(): Promise<void> {
      clearInterval(trimTimer);
      clearInterval(expiryTimer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      for (const hub of hubs.values()) await Promise.all(hub.partitions.map((p) => p.close()));
    },
  };
}

interface RheaFrame {
  performative?: unknown;
  payload?: Buffer;
}
interface RheaTransport {
  header_sent?: unknown;
  pending: RheaFrame[];
  write(socket: Socket): void;
}
// rhea's frame encoder (internal module; rhea has no exports map).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const rheaFrames = require('rhea/lib/frames.js') as { write_frame(f: RheaFrame): Buffer };

/**
 * rhea encodes every frame into a fresh zero-filled buffer and copies the payload in: for
 * ~1 MiB events that is two extra passes over every byte delivered. On the endpoint's own
 * connections, large transfer payloads (immutable log records) are written to the socket
 * as they are, after their frame head; everything else is encoded as rhea does. Same bytes
 * on the wire; writes are corked into one writev.
 */
function zeroCopyTransfers(conn: Connection): void {
  const transport = (conn as unknown as { amqp_transport?: RheaTransport }).amqp_transport;
  if (!transport) return;
  const original = transport.write.bind(transport);
  transport.write = (socket: Socket): void => {
    if (!transport.header_sent) return original(socket);
    socket.cork();
    try {
      for (const frame of transport.pending) {
        const payload = frame.payload;
        if (frame.performative && payload && payload.length >= 16 * 1024) {
          const head = rheaFrames.write_frame({ ...frame, payload: undefined });
          head.writeUInt32BE(head.length + payload.length, 0);
          socket.write(head);
          socket.write(payload);
        } else {
          socket.write(rheaFrames.write_frame(frame));
        }
      }
      transport.pending = [];
    } finally {
      socket.uncork();
    }
  };
}

function linksOf(conn: Connection): Array<Sender | Receiver> {
  const out: Array<Sender | Receiver> = [];
  const sessions = (
    conn as unknown as {
      local_channel_map: Record<string, { links: Record<string, Sender | Receiver> }>;
    }
  ).local_channel_map;
  for (const session of Object.values(sessions ?? {})) {
    for (const link of Object.values(session.links ?? {})) out.push(link);
  }
  return out;
}

/** First sequence number a new receiver gets, from the SDK's selector filter. */
function startPosition(log: PartitionLog, filter: string | undefined): number {
  if (!filter) return log.endSequenceNumber;
  const m =
    /amqp\.annotation\.x-opt-(offset|sequence-number|enqueued-time)\s*(>=|>)\s*'([^']*)'/i.exec(
      filter,
    );
  if (!m)
    throw new EmulatorError('com.microsoft:argument-error', 400, `Unsupported filter: ${filter}`);
  const [, field, op, value] = m;
  const inclusive = op === '>=';
  if (field === 'offset') {
    if (value === '@latest') return log.endSequenceNumber;
    const o = Number(value);
    if (!Number.isFinite(o))
      throw new EmulatorError('com.microsoft:argument-error', 400, `Bad offset '${value}'.`);
    if (o < 0) return log.beginSequenceNumber;
    return log.seqForOffset(o, inclusive);
  }
  if (field === 'sequence-number') {
    const n = Number(value);
    if (!Number.isFinite(n))
      throw new EmulatorError(
        'com.microsoft:argument-error',
        400,
        `Bad sequence number '${value}'.`,
      );
    return Math.max(log.beginSequenceNumber, inclusive ? n : n + 1);
  }
  const t = Number(value);
  if (!Number.isFinite(t))
    throw new EmulatorError('com.microsoft:argument-error', 400, `Bad time '${value}'.`);
  return log.seqForTime(inclusive ? t - 1 : t);
}
