import type { AddressInfo, Server, Socket } from 'node:net';
// rhea exports a Container instance whose API lives on its prototype; a namespace import would drop it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import rhea = require('rhea');
import type { EventContext, Receiver } from 'rhea';
import { ConnectionAuth } from './connectionAuth';
import { ConsumerLinks } from './consumerLinks';
import type { EventHubsEmulatorOptions, RunningEventHubsEmulator } from './emulatorOptions';
import { EventHubStore } from './eventHubStore';
import { ManagementNode } from './managementNode';
import { ProducerLinks } from './producerLinks';
import { zeroCopyTransfers } from './zeroCopyTransfers';

export {
  MAX_MESSAGE_BYTES,
  type AccessRight,
  type EventHubDefinition,
  type EventHubsEmulatorOptions,
  type RunningEventHubsEmulator,
  type SharedAccessKeyDefinition,
} from './emulatorOptions';
export { partitionForKey } from './eventHubStore';

/** An Event Hubs AMQP endpoint backed by partition logs on disk. */
export async function startEventHubsEmulator(
  opts: EventHubsEmulatorOptions,
): Promise<RunningEventHubsEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const say = opts.log ?? (() => undefined);
  const keys = new Map(opts.keys.map((k) => [k.name, k]));
  if (keys.size === 0) throw new Error('at least one shared access key is required');
  const hubs = new EventHubStore(host, opts.dataDir, opts.hubs, opts.segmentBytes);

  hubs.trim();
  const trimTimer = setInterval(() => hubs.trim(), opts.retentionCheckMs ?? 60_000);
  trimTimer.unref();

  const container = rhea.create_container({
    id: 'haven-eventhubs-emulator',
    autoaccept: false,
    credit_window: 100,
  } as rhea.ContainerOptions);
  const auth = new ConnectionAuth(keys, hubs, say);
  auth.enableSasl(container);
  const management = new ManagementNode(hubs, auth);
  const producers = new ProducerLinks(host, hubs, auth, say);
  const consumers = new ConsumerLinks(host, hubs, auth, say);

  container.on('message', (ctx: EventContext) => {
    const address = (
      ctx.receiver as unknown as { remote: { attach: { target?: { address?: string } } } }
    ).remote.attach.target?.address;
    if (address === '$cbs') auth.onCbs(ctx);
    else if (address === '$management') management.onRequest(ctx);
    else producers.ingest(ctx);
  });
  container.on('receiver_open', (ctx: EventContext) => producers.onOpen(ctx));
  container.on('sender_open', (ctx: EventContext) => consumers.onOpen(ctx));
  container.on('sendable', (ctx: EventContext) => consumers.onSendable(ctx));
  container.on('sender_close', (ctx: EventContext) => consumers.onLinkGone(ctx));
  container.on('sender_error', (ctx: EventContext) => consumers.onLinkGone(ctx));
  container.on('connection_open', (ctx: EventContext) => zeroCopyTransfers(ctx.connection));
  const onConnGone = (ctx: EventContext): void => {
    consumers.onConnectionGone(ctx.connection);
    auth.forget(ctx.connection);
  };
  container.on('connection_close', onConnGone);
  container.on('disconnected', onConnGone);
  container.on('error', (e: unknown) => say(`amqp error: ${String(e)}`));
  container.on('connection_error', () => undefined);
  container.on('receiver_error', () => undefined);
  container.on('session_error', () => undefined);

  const expiryTimer = setInterval(
    () => auth.expire((link) => producers.forget(link as Receiver)),
    opts.tokenCheckMs ?? 1000,
  );
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
    await hubs.close();
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
      await hubs.close();
    },
  };
}
