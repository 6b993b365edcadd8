import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventHubConsumerClient, EventHubProducerClient } from '@azure/event-hubs';
import { eventHubsService } from '../../../local/eventhubs/stackService';
import { services } from '../../../local/stack/services';
import { startLocalStack, type LocalStack } from '../../../local/stack/startLocalStack';
import { tempDir } from './helpers';

describe('Event Hubs in the local stack', () => {
  let stack: LocalStack | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it('is a default service; local.env gets the emulator connection and hub, which the SDK uses', async () => {
    expect(services).toContain(eventHubsService);
    stack = await startLocalStack({
      stateDir: tempDir('eh-stack-'),
      port: 0,
      persistent: false,
      entry: [join(__dirname, '../host/fixtures/stackApp.ts')],
      services: [eventHubsService],
    });
    const cs = stack.env.HAVEN_EVENTHUBS_CONNECTION!;
    expect(cs).toMatch(
      /^Endpoint=sb:\/\/127\.0\.0\.1:\d+;SharedAccessKeyName=[^;]+;SharedAccessKey=[^;]+;UseDevelopmentEmulator=true$/,
    );
    expect(stack.env.HAVEN_EVENTHUBS_HUB).toBe('haven-batches');
    expect(stack.settings.HAVEN_EVENTHUBS_CONNECTION).toBe(cs);

    const producer = new EventHubProducerClient(cs, 'haven-batches');
    expect((await producer.getEventHubProperties()).partitionIds).toEqual(['0', '1', '2', '3']);
    await producer.sendBatch([{ body: 'hello stack' }], { partitionId: '2' });
    await producer.close();
    for (const group of ['$Default', 'ingest']) {
      const consumer = new EventHubConsumerClient(group, cs, 'haven-batches');
      expect((await consumer.getPartitionIds()).length).toBe(4);
      await consumer.close();
    }
  });

  it('keeps its data, key and port across a persistent restart', async () => {
    const stateDir = tempDir('eh-stack-p-');
    const start = () =>
      startLocalStack({
        stateDir,
        port: 0,
        entry: [join(__dirname, '../host/fixtures/stackApp.ts')],
        services: [eventHubsService],
      });
    let s = await start();
    const cs = s.env.HAVEN_EVENTHUBS_CONNECTION!;
    const producer = new EventHubProducerClient(cs, 'haven-batches');
    await producer.sendBatch([{ body: 'kept' }], { partitionId: '1' });
    await producer.close();
    await s.stop();
    s = await start();
    try {
      expect(s.env.HAVEN_EVENTHUBS_CONNECTION).toBe(cs);
      const again = new EventHubProducerClient(cs, 'haven-batches');
      const props = await again.getPartitionProperties('1');
      expect(props.lastEnqueuedSequenceNumber).toBe(0);
      await again.close();
    } finally {
      await s.stop();
    }
  });
});
