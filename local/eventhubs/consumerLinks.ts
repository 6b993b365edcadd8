// rhea exports a Container instance whose API lives on its prototype; a namespace import would drop it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import rhea = require('rhea');
import type { Connection, EventContext, Sender } from 'rhea';
import { parseAddress } from './address';
import { EmulatorError, notFound, type AmqpError } from './emulatorError';
import { EntityLinks } from './entityLinks';
import type { PartitionLog } from './partitionLog';
import { selectorFilter, startPosition } from './startPosition';

const EPOCH = 'com.microsoft:epoch';

interface ConsumerLink {
  sender: Sender;
  log: PartitionLog;
  next: number;
  reading: boolean;
  epoch?: number;
  group: string;
  unsubscribe: () => void;
}

/** Links the clients receive events on (our senders): positions, epochs, flow from the log. */
export class ConsumerLinks extends EntityLinks {
  private readonly byConn = new Map<Connection, Set<ConsumerLink>>();
  /** Receivers of one consumer group on one partition, where epochs compete. */
  private readonly groups = new Map<string, Set<ConsumerLink>>();
  private readonly consumers = new WeakMap<Sender, ConsumerLink>();

  onOpen(ctx: EventContext): void {
    const sender = ctx.sender!;
    const remote = this.remoteAttach<{
      source?: { address?: string };
      target?: unknown;
      properties?: Record<string, unknown>;
      snd_settle_mode?: number;
    }>(sender);
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
      if (addr.kind !== 'consumer')
        throw notFound(`sb://${this.host}/${remote.source?.address ?? ''}`);
      const hub = this.hubs.hub(addr.hub);
      const cg = addr.consumerGroup.toLowerCase();
      if (!hub.consumerGroups.has(cg))
        throw notFound(`sb://${this.host}/${hub.def.name}/ConsumerGroups/${addr.consumerGroup}`);
      const log = this.hubs.partition(hub, addr.partition);
      const path = [hub.def.name.toLowerCase(), 'consumergroups', cg, 'partitions', addr.partition];
      this.auth.authorize(ctx.connection, path, 'Listen');
      this.auth.trackLink(ctx.connection, sender, path, 'Listen');
      const next = startPosition(log, selectorFilter(remote.source));
      const epochRaw = remote.properties?.[EPOCH];
      const epoch = epochRaw === undefined || epochRaw === null ? undefined : Number(epochRaw);
      const group = `${hub.def.name.toLowerCase()}/${cg}/${addr.partition}`;
      const members = this.groups.get(group) ?? new Set<ConsumerLink>();
      this.groups.set(group, members);
      for (const other of [...members]) {
        if (epoch !== undefined && (other.epoch === undefined || other.epoch <= epoch)) {
          // A newer owner takes the partition over (how load balancing hands partitions around).
          other.sender.close({
            condition: 'amqp:link:stolen',
            description: `New receiver with higher epoch of '${epoch}' is created hence current receiver with epoch '${other.epoch ?? 'none'}' is getting disconnected.`,
          } as AmqpError);
          this.drop(other, other.sender.connection);
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
      c.unsubscribe = log.onCommit(() => this.pump(c));
      members.add(c);
      const mine = this.byConn.get(ctx.connection) ?? new Set<ConsumerLink>();
      this.byConn.set(ctx.connection, mine);
      mine.add(c);
      this.consumers.set(sender, c);
      setImmediate(() => this.pump(c));
    } catch (e) {
      this.refuse(sender, e);
    }
  }

  onSendable(ctx: EventContext): void {
    const c = this.consumers.get(ctx.sender!);
    if (c) this.pump(c);
  }

  onLinkGone(ctx: EventContext): void {
    const c = ctx.sender ? this.consumers.get(ctx.sender) : undefined;
    if (c) this.drop(c, ctx.connection);
  }

  onConnectionGone(conn: Connection): void {
    const mine = this.byConn.get(conn);
    if (!mine) return;
    for (const c of [...mine]) this.drop(c, conn);
    this.byConn.delete(conn);
  }

  private drop(c: ConsumerLink, conn: Connection): void {
    c.unsubscribe();
    this.groups.get(c.group)?.delete(c);
    this.byConn.get(conn)?.delete(c);
  }

  private pump(c: ConsumerLink): void {
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
        this.pump(c);
      })
      .catch((e: unknown) => {
        c.reading = false;
        this.say(`read failed: ${String(e)}`);
        setTimeout(() => this.pump(c), 50);
      });
  }
}
