import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  earliestEventPosition,
  EventHubConsumerClient,
  EventHubProducerClient,
  latestEventPosition,
} from '@azure/event-hubs';
import * as rhea from 'rhea';
import { partitionForKey, MAX_MESSAGE_BYTES } from '../../../local/eventhubs/emulator';
import { createSasToken } from '../../../local/eventhubs/sas';
import { errorOf, fastRetry, KEY, readPartition, startTestEmulator } from './helpers';

type Emulator = Awaited<ReturnType<typeof startTestEmulator>>;

describe('local Event Hubs endpoint with the real SDK', () => {
  let emu: Emulator;
  let producer: EventHubProducerClient;

  beforeAll(async () => {
    emu = await startTestEmulator({
      hubs: [
        { name: 'hub', partitions: 4, consumerGroups: ['ingest'] },
        { name: 'haven-batches', partitions: 2 },
      ],
      keys: [KEY, { name: 'listen-only', key: 'listen-key', rights: ['Listen'] }],
    });
    producer = new EventHubProducerClient(emu.connectionString(), 'hub');
  });
  afterAll(async () => {
    await producer?.close();
    await emu?.stop();
  });

  it('reports hub and partition properties', async () => {
    const hub = await producer.getEventHubProperties();
    expect(hub.name).toBe('hub');
    expect(hub.partitionIds).toEqual(['0', '1', '2', '3']);
    expect(hub.createdOn.getTime()).toBeGreaterThan(0);
    const p = await producer.getPartitionProperties('3');
    expect(p).toMatchObject({ partitionId: '3', isEmpty: true, lastEnqueuedSequenceNumber: -1 });
  });

  it('round-trips binary, JSON and string bodies with properties and partition keys', async () => {
    const binary = Buffer.from([0, 1, 2, 250, 255]);
    await producer.sendBatch(
      [
        { body: binary, properties: { kind: 'bin', n: 7 } },
        {
          body: { machineId: 'm1', seq: 1, nested: { ok: true } },
          contentType: 'application/json',
        },
        { body: 'plain text', messageId: 'msg-3' },
      ],
      { partitionKey: 'machine-42' },
    );
    const partition = String(partitionForKey('machine-42', 4));
    const events = await readPartition(
      emu.connectionString(),
      'hub',
      partition,
      earliestEventPosition,
      3,
    );
    expect(Buffer.isBuffer(events[0]!.body)).toBe(true);
    expect(Buffer.compare(events[0]!.body as Buffer, binary)).toBe(0);
    expect(events[0]!.properties).toEqual({ kind: 'bin', n: 7 });
    expect(events[1]!.body).toEqual({ machineId: 'm1', seq: 1, nested: { ok: true } });
    expect(events[1]!.contentType).toBe('application/json');
    expect(events[2]!.body).toBe('plain text');
    expect(events[2]!.messageId).toBe('msg-3');
    for (const e of events) expect(e.partitionKey).toBe('machine-42');
    expect(events.map((e) => e.sequenceNumber)).toEqual([0, 1, 2]);
    const offsets = events.map((e) => Number(e.offset));
    expect(offsets[0]).toBe(0);
    expect(offsets[1]!).toBeGreaterThan(offsets[0]!);
    expect(offsets[2]!).toBeGreaterThan(offsets[1]!);
    const props = await producer.getPartitionProperties(partition);
    expect(props).toMatchObject({
      isEmpty: false,
      lastEnqueuedSequenceNumber: 2,
      lastEnqueuedOffset: events[2]!.offset,
    });
    expect(props.lastEnqueuedOnUtc.getTime()).toBe(events[2]!.enqueuedTimeUtc.getTime());
  });

  it('keeps order within a partition across many sends, and the same key always lands on one partition', async () => {
    const key = 'ordering-key';
    const partition = String(partitionForKey(key, 4));
    const before = await producer.getPartitionProperties(partition);
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      const batch = await producer.createBatch({ partitionKey: key });
      for (let j = 0; j < 5; j++) expect(batch.tryAdd({ body: { i: i * 5 + j } })).toBe(true);
      await producer.sendBatch(batch); // sequential: order of sends defines order of events
    }
    await Promise.all(sends);
    const events = await readPartition(
      emu.connectionString(),
      'hub',
      partition,
      { sequenceNumber: before.lastEnqueuedSequenceNumber },
      100,
    );
    expect(events.map((e) => (e.body as { i: number }).i)).toEqual([...Array(100).keys()]);
    const seqs = events.map((e) => e.sequenceNumber);
    expect(seqs[0]).toBe(before.lastEnqueuedSequenceNumber + 1);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
  });

  it('spreads events without a key round robin and honours an explicit partition id', async () => {
    const before = await Promise.all(
      ['0', '1', '2', '3'].map((p) => producer.getPartitionProperties(p)),
    );
    for (let i = 0; i < 8; i++) await producer.sendBatch([{ body: i }]);
    await producer.sendBatch([{ body: 'to-2' }], { partitionId: '2' });
    const after = await Promise.all(
      ['0', '1', '2', '3'].map((p) => producer.getPartitionProperties(p)),
    );
    const added = after.map(
      (a, i) => a.lastEnqueuedSequenceNumber - before[i]!.lastEnqueuedSequenceNumber,
    );
    expect(added).toEqual([2, 2, 3, 2]);
    const last = await readPartition(
      emu.connectionString(),
      'hub',
      '2',
      { sequenceNumber: after[2]!.lastEnqueuedSequenceNumber, isInclusive: true },
      1,
    );
    expect(last[0]!.body).toBe('to-2');
  });

  it('starts from earliest, latest, a sequence number, an offset and an enqueued time', async () => {
    await producer.sendBatch(
      ['a', 'b', 'c', 'd'].map((body) => ({ body })),
      { partitionId: '1' },
    );
    const n = await producer.getPartitionProperties('1');
    const allEvents = await readPartition(
      emu.connectionString(),
      'hub',
      '1',
      earliestEventPosition,
      n.lastEnqueuedSequenceNumber + 1,
    );
    const abcd = allEvents.slice(-4);
    expect(abcd.map((e) => e.body)).toEqual(['a', 'b', 'c', 'd']);
    const [a, b, c] = abcd as [(typeof abcd)[0], (typeof abcd)[0], (typeof abcd)[0]];

    const fromSeq = await readPartition(
      emu.connectionString(),
      'hub',
      '1',
      { sequenceNumber: a.sequenceNumber },
      3,
    );
    expect(fromSeq.map((e) => e.body)).toEqual(['b', 'c', 'd']);
    const fromSeqIncl = await readPartition(
      emu.connectionString(),
      'hub',
      '1',
      { sequenceNumber: b.sequenceNumber, isInclusive: true },
      3,
    );
    expect(fromSeqIncl.map((e) => e.body)).toEqual(['b', 'c', 'd']);
    const fromOffset = await readPartition(
      emu.connectionString(),
      'hub',
      '1',
      { offset: b.offset },
      2,
    );
    expect(fromOffset.map((e) => e.body)).toEqual(['c', 'd']);
    const fromOffsetIncl = await readPartition(
      emu.connectionString(),
      'hub',
      '1',
      { offset: c.offset, isInclusive: true },
      2,
    );
    expect(fromOffsetIncl.map((e) => e.body)).toEqual(['c', 'd']);
    const fromTime = await readPartition(
      emu.connectionString(),
      'hub',
      '1',
      { enqueuedOn: new Date(a.enqueuedTimeUtc.getTime() - 1) },
      4,
    );
    expect(fromTime.map((e) => e.body)).toEqual(['a', 'b', 'c', 'd']);

    // latest: only events sent after the receiver attached
    const client = new EventHubConsumerClient('$Default', emu.connectionString(), 'hub');
    const seen: unknown[] = [];
    const sub = client.subscribe(
      '1',
      {
        processEvents: async (events) => {
          seen.push(...events.map((e) => e.body));
        },
        processError: async () => undefined,
      },
      { startPosition: latestEventPosition, maxWaitTimeInSeconds: 0.2 },
    );
    // The receive link attaches at some point after subscribe(): probe until it sees something.
    for (let i = 0; seen.length === 0 && i < 100; i++) {
      await producer.sendBatch([{ body: `probe-${i}` }], { partitionId: '1' });
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((b) => typeof b === 'string' && b.startsWith('probe-'))).toBe(true);
    await sub.close();
    await client.close();
  });

  it('gives two consumer groups the same events, independently', async () => {
    await producer.sendBatch([{ body: 'x1' }, { body: 'x2' }], { partitionId: '3' });
    const props = await producer.getPartitionProperties('3');
    const count = props.lastEnqueuedSequenceNumber + 1;
    const a = await readPartition(
      emu.connectionString(),
      'hub',
      '3',
      earliestEventPosition,
      count,
      '$Default',
    );
    const b = await readPartition(
      emu.connectionString(),
      'hub',
      '3',
      earliestEventPosition,
      count,
      'ingest',
    );
    expect(b.map((e) => [e.sequenceNumber, e.offset, e.body])).toEqual(
      a.map((e) => [e.sequenceNumber, e.offset, e.body]),
    );
  });

  it('reports an unknown consumer group and an unknown hub as not found', async () => {
    const client = new EventHubConsumerClient('nope', emu.connectionString(), 'hub', fastRetry);
    const err = await new Promise<{ code?: string }>((resolve) => {
      const sub = client.subscribe('0', {
        processEvents: async () => undefined,
        processError: async (e) => {
          await sub.close();
          resolve(e as { code?: string });
        },
      });
    });
    expect(err.code).toBe('MessagingEntityNotFoundError');
    await client.close();

    const ghost = new EventHubProducerClient(emu.connectionString(), 'no-such-hub', fastRetry);
    expect((await errorOf(ghost.getEventHubProperties())).code).toBe(
      'MessagingEntityNotFoundError',
    );
    expect((await errorOf(ghost.sendBatch([{ body: 1 }]))).code).toBe(
      'MessagingEntityNotFoundError',
    );
    await ghost.close();
  });

  it('refuses a wrong key and an expired SAS token with an authorization error', async () => {
    const wrong = new EventHubProducerClient(
      `Endpoint=sb://127.0.0.1:${emu.port};SharedAccessKeyName=${KEY.name};SharedAccessKey=not-the-key;UseDevelopmentEmulator=true`,
      'hub',
      fastRetry,
    );
    expect((await errorOf(wrong.sendBatch([{ body: 1 }]))).code).toBe('UnauthorizedError');
    expect((await errorOf(wrong.getPartitionIds())).code).toBe('UnauthorizedError');
    await wrong.close();

    const unknownKey = new EventHubProducerClient(
      `Endpoint=sb://127.0.0.1:${emu.port};SharedAccessKeyName=ghost;SharedAccessKey=${KEY.key};UseDevelopmentEmulator=true`,
      'hub',
      fastRetry,
    );
    expect((await errorOf(unknownKey.sendBatch([{ body: 1 }]))).code).toBe('UnauthorizedError');
    await unknownKey.close();

    const expired = createSasToken(
      `sb://127.0.0.1:${emu.port}/hub`,
      KEY.name,
      KEY.key,
      Math.floor(Date.now() / 1000) - 60,
    );
    const stale = new EventHubProducerClient(
      `Endpoint=sb://127.0.0.1:${emu.port};SharedAccessSignature=${expired};UseDevelopmentEmulator=true;EntityPath=hub`,
      fastRetry,
    );
    expect((await errorOf(stale.sendBatch([{ body: 1 }]))).code).toBe('UnauthorizedError');
    await stale.close();

    // A valid token signed the Azure way (lower-cased resource) works.
    const valid = createSasToken(
      `sb://127.0.0.1:${emu.port}/hub`,
      KEY.name,
      KEY.key,
      Math.floor(Date.now() / 1000) + 600,
    );
    const ok = new EventHubProducerClient(
      `Endpoint=sb://127.0.0.1:${emu.port};SharedAccessSignature=${valid};UseDevelopmentEmulator=true;EntityPath=hub`,
      fastRetry,
    );
    await ok.sendBatch([{ body: 'signed-by-hand' }], { partitionId: '0' });
    await ok.close();
  });

  it('refuses sending with a listen-only key', async () => {
    const listener = new EventHubProducerClient(
      emu.connectionString('listen-only'),
      'hub',
      fastRetry,
    );
    expect((await errorOf(listener.sendBatch([{ body: 1 }]))).code).toBe('UnauthorizedError');
    await listener.close();
  });

  it('binds a publisher-scoped token to its publisher: send only, only as itself', async () => {
    const expiry = Math.floor(Date.now() / 1000) + 600;
    const token = createSasToken(
      `sb://127.0.0.1:${emu.port}/haven-batches/publishers/m1`,
      KEY.name,
      KEY.key,
      expiry,
    );
    const cs = `Endpoint=sb://127.0.0.1:${emu.port};SharedAccessSignature=${token};UseDevelopmentEmulator=true;EntityPath=haven-batches`;
    const agent = new EventHubProducerClient(cs, fastRetry);
    await agent.sendBatch([{ body: 'as-m1' }], { partitionKey: 'm1' });
    await agent.sendBatch([{ body: 'implicit-m1' }]);
    const partition = String(partitionForKey('m1', 2));
    const admin = new EventHubProducerClient(emu.connectionString(), 'haven-batches');
    const props = await admin.getPartitionProperties(partition);
    await admin.close();
    const events = await readPartition(
      emu.connectionString(),
      'haven-batches',
      partition,
      earliestEventPosition,
      props.lastEnqueuedSequenceNumber + 1,
    );
    const bodies = events.map((e) => [e.body, e.partitionKey]);
    expect(bodies).toContainEqual(['as-m1', 'm1']);
    expect(bodies).toContainEqual(['implicit-m1', 'm1']);
    const stamped = events.find((e) => e.body === 'as-m1')!;
    expect(stamped.systemProperties?.['x-opt-publisher']).toBe('m1');

    expect((await errorOf(agent.sendBatch([{ body: 'as-m2' }], { partitionKey: 'm2' }))).code).toBe(
      'UnauthorizedError',
    );
    expect((await errorOf(agent.sendBatch([{ body: 'pinned' }], { partitionId: '0' }))).code).toBe(
      'UnauthorizedError',
    );
    await agent.close();

    const reader = new EventHubConsumerClient('$Default', cs, fastRetry);
    const err = await new Promise<{ code?: string }>((resolve) => {
      const sub = reader.subscribe('0', {
        processEvents: async () => undefined,
        processError: async (e) => {
          await sub.close();
          resolve(e as { code?: string });
        },
      });
    });
    expect(err.code).toBe('UnauthorizedError');
    await reader.close();

    const other = createSasToken(
      `sb://127.0.0.1:${emu.port}/haven-batches/publishers/m1`,
      KEY.name,
      'wrong',
      expiry,
    );
    const forged = new EventHubProducerClient(
      `Endpoint=sb://127.0.0.1:${emu.port};SharedAccessSignature=${other};UseDevelopmentEmulator=true;EntityPath=haven-batches`,
      fastRetry,
    );
    expect((await errorOf(forged.sendBatch([{ body: 'x' }]))).code).toBe('UnauthorizedError');
    await forged.close();
  });

  it('rejects an event over 1 MiB as MessageTooLargeError and stores nothing of it', async () => {
    const before = await producer.getPartitionProperties('0');
    const big = Buffer.alloc(MAX_MESSAGE_BYTES + 1, 7);
    const err = await errorOf(
      producer.sendBatch([{ body: big }], { partitionId: '0', ...fastRetry }),
    );
    expect(err.code).toBe('MessageTooLargeError');
    // A batch whose events are each small but which is too large as a whole, too.
    const parts = [0, 1, 2].map(() => ({ body: Buffer.alloc(400 * 1024, 1) }));
    expect(
      (await errorOf(producer.sendBatch(parts, { partitionId: '0', ...fastRetry }))).code,
    ).toBe('MessageTooLargeError');
    const after = await producer.getPartitionProperties('0');
    expect(after.lastEnqueuedSequenceNumber).toBe(before.lastEnqueuedSequenceNumber);
    expect(after.lastEnqueuedOffset).toBe(before.lastEnqueuedOffset);
    // The link advertises the limit, so the SDK's own batches refuse such an event up front.
    const batch = await producer.createBatch({ partitionId: '0' });
    expect(batch.maxSizeInBytes).toBe(MAX_MESSAGE_BYTES);
    expect(batch.tryAdd({ body: big })).toBe(false);
    // Just under the limit still works.
    await producer.sendBatch([{ body: Buffer.alloc(1000 * 1024, 3) }], { partitionId: '0' });
  });

  it('never sends beyond the link credit, and a stalled receiver does not hold up others', async () => {
    await producer.sendBatch(
      Array.from({ length: 10 }, (_, i) => ({ body: `credit-${i}` })),
      { partitionId: '2' },
    );
    const props = await producer.getPartitionProperties('2');
    const total = props.lastEnqueuedSequenceNumber + 1;
    const container = rhea.create_container();
    const conn = container.connect({ host: '127.0.0.1', port: emu.port, reconnect: false });
    const received: unknown[] = [];
    const token = createSasToken(
      `sb://127.0.0.1:${emu.port}/hub`,
      KEY.name,
      KEY.key,
      Math.floor(Date.now() / 1000) + 600,
    );
    await new Promise<void>((resolve, reject) => {
      const cbs = conn.open_sender('$cbs');
      const replies = conn.open_receiver({
        source: { address: '$cbs' },
        target: { address: 'cbs-reply' },
      });
      replies.on('message', (ctx) => {
        const status = ctx.message?.application_properties?.['status-code'];
        if (status === 202) resolve();
        else reject(new Error(`cbs status ${String(status)}`));
      });
      cbs.on('sendable', () => {
        if (
          (cbs as unknown as { credit: number }).credit > 0 &&
          !(cbs as unknown as { done?: boolean }).done
        ) {
          (cbs as unknown as { done?: boolean }).done = true;
          cbs.send({
            body: token,
            reply_to: 'cbs-reply',
            message_id: 'put-1',
            application_properties: {
              operation: 'put-token',
              name: `sb://127.0.0.1:${emu.port}/hub`,
              type: 'servicebus.windows.net:sastoken',
            },
          });
        }
      });
    });
    const link = conn.open_receiver({
      source: {
        address: 'hub/ConsumerGroups/$Default/Partitions/2',
        filter: {
          'apache.org:selector-filter:string': rhea.filter.selector(
            "amqp.annotation.x-opt-offset > '-1'",
          )['jms-selector'],
        },
      },
      credit_window: 0,
    });
    link.on('message', (ctx) => received.push(ctx.message?.body));
    await new Promise<void>((r) => link.once('receiver_open', () => r()));
    link.add_credit(3);
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(3);
    // This receiver now holds no credit; another consumer group still reads everything.
    const other = await readPartition(
      emu.connectionString(),
      'hub',
      '2',
      earliestEventPosition,
      total,
      'ingest',
    );
    expect(other.length).toBe(total);
    expect(received.length).toBe(3);
    link.add_credit(2);
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(5);
    conn.close();
  });

  it('lets a receiver with a higher owner level take a partition over (how load balancing hands it on)', async () => {
    const first = new EventHubConsumerClient('ingest', emu.connectionString(), 'hub', fastRetry);
    const second = new EventHubConsumerClient('ingest', emu.connectionString(), 'hub', fastRetry);
    const lost = new Promise<{ code?: string }>((resolve) => {
      first.subscribe(
        '1',
        {
          processEvents: async () => undefined,
          processError: async (e) => resolve(e as { code?: string }),
        },
        { ownerLevel: 1, startPosition: latestEventPosition, maxWaitTimeInSeconds: 0.2 },
      );
    });
    // Whichever attaches first, the lower owner level is the one that gets disconnected.
    const seenBySecond: unknown[] = [];
    await new Promise((r) => setTimeout(r, 300));
    second.subscribe(
      '1',
      {
        processEvents: async (events) => void seenBySecond.push(...events.map((e) => e.body)),
        processError: async () => undefined,
      },
      { ownerLevel: 2, startPosition: latestEventPosition, maxWaitTimeInSeconds: 0.2 },
    );
    expect((await lost).code).toBe('ReceiverDisconnectedError');
    await producer.sendBatch([{ body: 'for-the-new-owner' }], { partitionId: '1' });
    await expect.poll(() => seenBySecond, { timeout: 10_000 }).toContain('for-the-new-owner');
    await first.close();
    await second.close();
  });

  it('accepts SASL PLAIN only with a configured key, and ANONYMOUS', async () => {
    const attempt = (opts: Record<string, unknown>) =>
      new Promise<string>((resolve) => {
        const c = rhea.create_container();
        const conn = c.connect({
          host: '127.0.0.1',
          port: emu.port,
          reconnect: false,
          ...opts,
        } as rhea.ConnectionOptions);
        conn.on('connection_open', () => {
          conn.close();
          resolve('open');
        });
        conn.on('connection_error', () => resolve('refused'));
        conn.on('disconnected', () => resolve('refused'));
      });
    expect(await attempt({ username: KEY.name, password: KEY.key })).toBe('open');
    expect(await attempt({ username: KEY.name, password: 'wrong' })).toBe('refused');
    expect(await attempt({})).toBe('open');
  });

  it('detaches a link once its token expires; the expired token is then refused', async () => {
    const expiry = Math.floor(Date.now() / 1000) + 2;
    const token = createSasToken(`sb://127.0.0.1:${emu.port}/hub`, KEY.name, KEY.key, expiry);
    const shortLived = new EventHubProducerClient(
      `Endpoint=sb://127.0.0.1:${emu.port};SharedAccessSignature=${token};UseDevelopmentEmulator=true;EntityPath=hub`,
      { retryOptions: { maxRetries: 0, timeoutInMs: 2000 } },
    );
    await shortLived.sendBatch([{ body: 'while-valid' }], { partitionId: '0' });
    // A send racing the detach may time out instead; the next one must be refused.
    let code: string | undefined;
    for (let i = 0; i < 40 && code !== 'UnauthorizedError'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      code = await shortLived.sendBatch([{ body: 'after-expiry' }], { partitionId: '0' }).then(
        () => undefined,
        (e: { code?: string }) => e.code ?? 'unknown',
      );
    }
    expect(Date.now() / 1000).toBeGreaterThanOrEqual(expiry);
    expect(code).toBe('UnauthorizedError');
    await shortLived.close();
  });
});
