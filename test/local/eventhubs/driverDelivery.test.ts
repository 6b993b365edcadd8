import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventHubProducerClient } from '@azure/event-hubs';
import { createEventHubsDriver } from '../../../local/eventhubs/driver';
import type { TriggerDriver } from '../../../local/host/plugin';
import { uniqueName } from '../../support/stack';
import { eventHubFunction, fakeHost, startTestEmulator, driverSettings } from './helpers';
import { waitFor } from '../../support/waitFor';

type Emulator = Awaited<ReturnType<typeof startTestEmulator>>;

// Delivery: batches and single events with their trigger metadata. Checkpointing, restarts
// and partition ownership are in driverCheckpoints.test.ts.
describe('Event Hubs trigger driver (real SDK, checkpoints in Azurite)', () => {
  let emu: Emulator;
  let producer: EventHubProducerClient;
  const drivers: TriggerDriver[] = [];

  beforeAll(async () => {
    emu = await startTestEmulator({
      hubs: [
        { name: 'many-hub', partitions: 2, consumerGroups: ['ingest'] },
        { name: 'one-hub', partitions: 1 },
      ],
    });
    producer = new EventHubProducerClient(emu.connectionString(), 'many-hub');
  });
  afterAll(async () => {
    for (const d of drivers) await d.stop();
    await producer?.close();
    await emu?.stop();
  });

  const settings = (extra: Record<string, string> = {}) => driverSettings(emu, extra);

  it('delivers batches (cardinality many) with the host trigger metadata; binary stays binary, JSON becomes objects', async () => {
    const { host, calls } = fakeHost(settings({ HUB_NAME: 'many-hub' }));
    const driver = createEventHubsDriver({
      maxEventBatchSize: 3,
      checkpointContainer: uniqueName('ehcp'),
    });
    drivers.push(driver);
    expect(driver.triggerTypes).toEqual(['eventHubTrigger']);
    await driver.start(
      [
        eventHubFunction('ingest', {
          eventHubName: '%HUB_NAME%',
          connection: 'EH_CONN',
          consumerGroup: 'ingest',
          cardinality: 'many',
        }),
      ],
      host,
    );
    const envelope = Buffer.concat([Buffer.from('HVB1'), Buffer.from([0, 0, 0, 2, 0xff, 0x00])]);
    await producer.sendBatch(
      [
        { body: envelope, properties: { kind: 'envelope' } },
        { body: { kind: 'ref', seq: 2 }, contentType: 'application/vnd.haven.claim+json' },
        { body: Buffer.from([1, 2, 3]) },
        { body: { kind: 'ref', seq: 4 } },
        { body: Buffer.from('HVB1-last') },
      ],
      { partitionKey: 'machine-7' },
    );
    await waitFor(
      '5 events',
      () => calls.flatMap((c) => c.input.triggerValue as unknown[]).length >= 5 || undefined,
    );
    expect(calls.every((c) => c.name === 'ingest')).toBe(true);
    expect(calls.every((c) => (c.input.triggerValue as unknown[]).length <= 3)).toBe(true);
    // Each invocation is uniform: all Buffers when any body is binary, else parsed JSON.
    const expected: Array<Buffer | object> = [
      envelope,
      { kind: 'ref', seq: 2 },
      Buffer.from([1, 2, 3]),
      { kind: 'ref', seq: 4 },
      Buffer.from('HVB1-last'),
    ];
    let i = 0;
    for (const c of calls) {
      const values = c.input.triggerValue as unknown[];
      const buffers = values.filter((v) => Buffer.isBuffer(v)).length;
      expect(buffers === 0 || buffers === values.length).toBe(true);
      for (const v of values) {
        const want = expected[i++]!;
        if (Buffer.isBuffer(want)) expect(Buffer.isBuffer(v) && v.equals(want)).toBe(true);
        else if (Buffer.isBuffer(v)) expect(JSON.parse(v.toString('utf8'))).toEqual(want);
        else expect(v).toEqual(want);
      }
    }
    expect(i).toBe(5);

    // An all-JSON batch comes as objects.
    await producer.sendBatch([{ body: { json: 1 } }, { body: { json: 2 } }], {
      partitionKey: 'json-only',
    });
    const jsonCall = await waitFor('JSON batch', () =>
      calls.find((c) => JSON.stringify(c.input.triggerValue).includes('"json":1')),
    );
    expect(jsonCall.input.triggerValue).toEqual([{ json: 1 }, { json: 2 }]);

    const meta = calls[0]!.input.triggerMetadata!;
    const n = (calls[0]!.input.triggerValue as unknown[]).length;
    expect(meta.partitionContext).toMatchObject({
      consumerGroup: 'ingest',
      eventHubName: 'many-hub',
    });
    expect(
      typeof (meta.partitionContext as { fullyQualifiedNamespace: string }).fullyQualifiedNamespace,
    ).toBe('string');
    expect(['0', '1']).toContain((meta.partitionContext as { partitionId: string }).partitionId);
    expect(meta.sequenceNumberArray).toEqual([...Array(n).keys()]);
    expect((meta.offsetArray as string[]).length).toBe(n);
    expect(meta.partitionKeyArray).toEqual(Array(n).fill('machine-7'));
    expect((meta.enqueuedTimeUtcArray as string[]).every((t) => !Number.isNaN(Date.parse(t)))).toBe(
      true,
    );
    expect((meta.propertiesArray as unknown[])[0]).toEqual({ kind: 'envelope' });
    const sys = (meta.systemPropertiesArray as Record<string, unknown>[])[0]!;
    expect(sys).toMatchObject({
      'x-opt-sequence-number': 0,
      SequenceNumber: 0,
      PartitionKey: 'machine-7',
      'x-opt-partition-key': 'machine-7',
    });
  });

  it('invokes once per event with singular metadata for cardinality one', async () => {
    const { host, calls } = fakeHost(settings());
    const driver = createEventHubsDriver({ checkpointContainer: uniqueName('ehcp') });
    drivers.push(driver);
    await driver.start(
      [eventHubFunction('single', { eventHubName: 'one-hub', connection: 'EH_CONN' })],
      host,
    );
    const p = new EventHubProducerClient(emu.connectionString(), 'one-hub');
    await p.sendBatch([{ body: 'first', properties: { a: 1 } }, { body: { second: true } }]);
    await p.close();
    await waitFor('two invocations', () => calls.length >= 2 || undefined);
    expect(calls.map((c) => c.input.triggerValue)).toEqual(['first', { second: true }]);
    const m = calls[1]!.input.triggerMetadata!;
    expect(m).toMatchObject({ sequenceNumber: 1, partitionKey: null, properties: {} });
    expect(typeof m.offset).toBe('string');
    expect(typeof m.enqueuedTimeUtc).toBe('string');
    expect(m.partitionContext).toMatchObject({
      eventHubName: 'one-hub',
      partitionId: '0',
      consumerGroup: '$Default',
    });
    expect(calls[0]!.input.triggerMetadata!.properties).toEqual({ a: 1 });
  });
});
