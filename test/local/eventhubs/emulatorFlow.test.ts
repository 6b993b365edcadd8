import { describe, expect, it } from 'vitest';
import {
  earliestEventPosition,
  EventHubConsumerClient,
  latestEventPosition,
} from '@azure/event-hubs';
import * as rhea from 'rhea';
import { MAX_MESSAGE_BYTES } from '../../../local/eventhubs/emulator';
import { createSasToken } from '../../../local/eventhubs/sas';
import { errorOf, fastRetry, KEY, readPartition, useSdkEmulator } from './helpers';

describe('local Event Hubs endpoint with the real SDK: size limit, link credit and owner level', () => {
  const sdk = useSdkEmulator();

  it('rejects an event over 1 MiB as MessageTooLargeError and stores nothing of it', async () => {
    const before = await sdk.producer.getPartitionProperties('0');
    const big = Buffer.alloc(MAX_MESSAGE_BYTES + 1, 7);
    const err = await errorOf(
      sdk.producer.sendBatch([{ body: big }], { partitionId: '0', ...fastRetry }),
    );
    expect(err.code).toBe('MessageTooLargeError');
    // A batch whose events are each small but which is too large as a whole, too.
    const parts = [0, 1, 2].map(() => ({ body: Buffer.alloc(400 * 1024, 1) }));
    expect(
      (await errorOf(sdk.producer.sendBatch(parts, { partitionId: '0', ...fastRetry }))).code,
    ).toBe('MessageTooLargeError');
    const after = await sdk.producer.getPartitionProperties('0');
    expect(after.lastEnqueuedSequenceNumber).toBe(before.lastEnqueuedSequenceNumber);
    expect(after.lastEnqueuedOffset).toBe(before.lastEnqueuedOffset);
    // The link advertises the limit, so the SDK's own batches refuse such an event up front.
    const batch = await sdk.producer.createBatch({ partitionId: '0' });
    expect(batch.maxSizeInBytes).toBe(MAX_MESSAGE_BYTES);
    expect(batch.tryAdd({ body: big })).toBe(false);
    // Just under the limit still works.
    await sdk.producer.sendBatch([{ body: Buffer.alloc(1000 * 1024, 3) }], { partitionId: '0' });
  });

  it('never sends beyond the link credit, and a stalled receiver does not hold up others', async () => {
    await sdk.producer.sendBatch(
      Array.from({ length: 10 }, (_, i) => ({ body: `credit-${i}` })),
      { partitionId: '2' },
    );
    const props = await sdk.producer.getPartitionProperties('2');
    const total = props.lastEnqueuedSequenceNumber + 1;
    const container = rhea.create_container();
    const conn = container.connect({ host: '127.0.0.1', port: sdk.emu.port, reconnect: false });
    const received: unknown[] = [];
    const token = createSasToken(
      `sb://127.0.0.1:${sdk.emu.port}/hub`,
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
              name: `sb://127.0.0.1:${sdk.emu.port}/hub`,
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
      sdk.emu.connectionString(),
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
    const first = new EventHubConsumerClient(
      'ingest',
      sdk.emu.connectionString(),
      'hub',
      fastRetry,
    );
    const second = new EventHubConsumerClient(
      'ingest',
      sdk.emu.connectionString(),
      'hub',
      fastRetry,
    );
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
    await sdk.producer.sendBatch([{ body: 'for-the-new-owner' }], { partitionId: '1' });
    await expect.poll(() => seenBySecond, { timeout: 10_000 }).toContain('for-the-new-owner');
    await first.close();
    await second.close();
  });
});
