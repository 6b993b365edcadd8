import { describe, expect, it } from 'vitest';
import {
  earliestEventPosition,
  EventHubConsumerClient,
  EventHubProducerClient,
  latestEventPosition,
} from '@azure/event-hubs';
import { partitionForKey } from '../../../local/eventhubs/emulator';
import { errorOf, fastRetry, readPartition, useSdkEmulator } from './helpers';

describe('local Event Hubs endpoint with the real SDK: events and positions', () => {
  const sdk = useSdkEmulator();

  it('reports hub and partition properties', async () => {
    const hub = await sdk.producer.getEventHubProperties();
    expect(hub.name).toBe('hub');
    expect(hub.partitionIds).toEqual(['0', '1', '2', '3']);
    expect(hub.createdOn.getTime()).toBeGreaterThan(0);
    const p = await sdk.producer.getPartitionProperties('3');
    expect(p).toMatchObject({ partitionId: '3', isEmpty: true, lastEnqueuedSequenceNumber: -1 });
  });

  it('round-trips binary, JSON and string bodies with properties and partition keys', async () => {
    const binary = Buffer.from([0, 1, 2, 250, 255]);
    await sdk.producer.sendBatch(
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
      sdk.emu.connectionString(),
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
    const props = await sdk.producer.getPartitionProperties(partition);
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
    const before = await sdk.producer.getPartitionProperties(partition);
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      const batch = await sdk.producer.createBatch({ partitionKey: key });
      for (let j = 0; j < 5; j++) expect(batch.tryAdd({ body: { i: i * 5 + j } })).toBe(true);
      await sdk.producer.sendBatch(batch); // sequential: order of sends defines order of events
    }
    await Promise.all(sends);
    const events = await readPartition(
      sdk.emu.connectionString(),
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
      ['0', '1', '2', '3'].map((p) => sdk.producer.getPartitionProperties(p)),
    );
    for (let i = 0; i < 8; i++) await sdk.producer.sendBatch([{ body: i }]);
    await sdk.producer.sendBatch([{ body: 'to-2' }], { partitionId: '2' });
    const after = await Promise.all(
      ['0', '1', '2', '3'].map((p) => sdk.producer.getPartitionProperties(p)),
    );
    const added = after.map(
      (a, i) => a.lastEnqueuedSequenceNumber - before[i]!.lastEnqueuedSequenceNumber,
    );
    expect(added).toEqual([2, 2, 3, 2]);
    const last = await readPartition(
      sdk.emu.connectionString(),
      'hub',
      '2',
      { sequenceNumber: after[2]!.lastEnqueuedSequenceNumber, isInclusive: true },
      1,
    );
    expect(last[0]!.body).toBe('to-2');
  });

  it('starts from earliest, latest, a sequence number, an offset and an enqueued time', async () => {
    await sdk.producer.sendBatch(
      ['a', 'b', 'c', 'd'].map((body) => ({ body })),
      { partitionId: '1' },
    );
    const n = await sdk.producer.getPartitionProperties('1');
    const allEvents = await readPartition(
      sdk.emu.connectionString(),
      'hub',
      '1',
      earliestEventPosition,
      n.lastEnqueuedSequenceNumber + 1,
    );
    const abcd = allEvents.slice(-4);
    expect(abcd.map((e) => e.body)).toEqual(['a', 'b', 'c', 'd']);
    const [a, b, c] = abcd as [(typeof abcd)[0], (typeof abcd)[0], (typeof abcd)[0]];

    const fromSeq = await readPartition(
      sdk.emu.connectionString(),
      'hub',
      '1',
      { sequenceNumber: a.sequenceNumber },
      3,
    );
    expect(fromSeq.map((e) => e.body)).toEqual(['b', 'c', 'd']);
    const fromSeqIncl = await readPartition(
      sdk.emu.connectionString(),
      'hub',
      '1',
      { sequenceNumber: b.sequenceNumber, isInclusive: true },
      3,
    );
    expect(fromSeqIncl.map((e) => e.body)).toEqual(['b', 'c', 'd']);
    const fromOffset = await readPartition(
      sdk.emu.connectionString(),
      'hub',
      '1',
      { offset: b.offset },
      2,
    );
    expect(fromOffset.map((e) => e.body)).toEqual(['c', 'd']);
    const fromOffsetIncl = await readPartition(
      sdk.emu.connectionString(),
      'hub',
      '1',
      { offset: c.offset, isInclusive: true },
      2,
    );
    expect(fromOffsetIncl.map((e) => e.body)).toEqual(['c', 'd']);
    const fromTime = await readPartition(
      sdk.emu.connectionString(),
      'hub',
      '1',
      { enqueuedOn: new Date(a.enqueuedTimeUtc.getTime() - 1) },
      4,
    );
    expect(fromTime.map((e) => e.body)).toEqual(['a', 'b', 'c', 'd']);

    // latest: only events sent after the receiver attached
    const client = new EventHubConsumerClient('$Default', sdk.emu.connectionString(), 'hub');
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
      await sdk.producer.sendBatch([{ body: `probe-${i}` }], { partitionId: '1' });
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((b) => typeof b === 'string' && b.startsWith('probe-'))).toBe(true);
    await sub.close();
    await client.close();
  });

  it('gives two consumer groups the same events, independently', async () => {
    await sdk.producer.sendBatch([{ body: 'x1' }, { body: 'x2' }], { partitionId: '3' });
    const props = await sdk.producer.getPartitionProperties('3');
    const count = props.lastEnqueuedSequenceNumber + 1;
    const a = await readPartition(
      sdk.emu.connectionString(),
      'hub',
      '3',
      earliestEventPosition,
      count,
      '$Default',
    );
    const b = await readPartition(
      sdk.emu.connectionString(),
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
    const client = new EventHubConsumerClient('nope', sdk.emu.connectionString(), 'hub', fastRetry);
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

    const ghost = new EventHubProducerClient(sdk.emu.connectionString(), 'no-such-hub', fastRetry);
    expect((await errorOf(ghost.getEventHubProperties())).code).toBe(
      'MessagingEntityNotFoundError',
    );
    expect((await errorOf(ghost.sendBatch([{ body: 1 }]))).code).toBe(
      'MessagingEntityNotFoundError',
    );
    await ghost.close();
  });
});
