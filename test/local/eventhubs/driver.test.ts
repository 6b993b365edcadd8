import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventHubProducerClient } from '@azure/event-hubs';
import { ContainerClient } from '@azure/storage-blob';
import { createEventHubsDriver } from '../../../local/eventhubs/driver';
import type {
  HostContext,
  HostFunction,
  InvokeInput,
  TriggerDriver,
} from '../../../local/host/plugin';
import { sharedStack, uniqueName } from '../../support/stack';
import { startTestEmulator } from './helpers';
import { waitFor } from '../../support/waitFor';

type Emulator = Awaited<ReturnType<typeof startTestEmulator>>;

interface Call {
  name: string;
  input: InvokeInput;
}

function fakeHost(
  settings: Record<string, string>,
  handler: (call: Call) => Promise<void> | void = () => undefined,
) {
  const calls: Call[] = [];
  const logs: string[] = [];
  const host: HostContext = {
    settings,
    stateDir: '/nonexistent',
    baseUrl: 'http://127.0.0.1:0',
    log: {
      info: (m) => logs.push(`info ${m}`),
      warn: (m) => logs.push(`warn ${m}`),
      error: (m) => logs.push(`error ${m}`),
    },
    async invoke(name, input) {
      const call = { name, input };
      calls.push(call);
      await handler(call);
      return { returnValue: undefined, outputs: {} };
    },
    addHttpRoute: () => undefined,
  };
  return { host, calls, logs };
}

function eventHubFunction(name: string, trigger: Record<string, unknown>): HostFunction {
  return {
    name,
    triggerType: 'eventHubTrigger',
    trigger: { type: 'eventHubTrigger', direction: 'in', name: 'messages', ...trigger },
    bindings: { messages: { type: 'eventHubTrigger', direction: 'in', ...trigger } },
  };
}

describe('Event Hubs trigger driver (real SDK, checkpoints in Azurite)', () => {
  let emu: Emulator;
  let producer: EventHubProducerClient;
  const drivers: TriggerDriver[] = [];

  beforeAll(async () => {
    emu = await startTestEmulator({
      hubs: [
        { name: 'many-hub', partitions: 2, consumerGroups: ['ingest'] },
        { name: 'one-hub', partitions: 1 },
        { name: 'retry-hub', partitions: 1 },
        { name: 'restart-hub', partitions: 2 },
        { name: 'owner-hub', partitions: 2 },
      ],
    });
    producer = new EventHubProducerClient(emu.connectionString(), 'many-hub');
  });
  afterAll(async () => {
    for (const d of drivers) await d.stop();
    await producer?.close();
    await emu?.stop();
  });

  function settings(extra: Record<string, string> = {}): Record<string, string> {
    return {
      AzureWebJobsStorage: sharedStack().storageConnection,
      EH_CONN: emu.connectionString(),
      ...extra,
    };
  }

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

  it('does not checkpoint past a batch whose handler throws: the batch comes again', async () => {
    let failures = 0;
    const { host, calls, logs } = fakeHost(settings(), (call) => {
      const bodies = call.input.triggerValue as unknown[];
      if (bodies.includes('poisoned-once') && failures < 2) {
        failures++;
        throw new Error('dependency down');
      }
    });
    const container = uniqueName('ehcp');
    const driver = createEventHubsDriver({ checkpointContainer: container, maxEventBatchSize: 10 });
    drivers.push(driver);
    await driver.start(
      [
        eventHubFunction('flaky', {
          eventHubName: 'retry-hub',
          connection: 'EH_CONN',
          cardinality: 'many',
        }),
      ],
      host,
    );
    const p = new EventHubProducerClient(emu.connectionString(), 'retry-hub');
    await p.sendBatch([{ body: 'ok-1' }, { body: 'poisoned-once' }, { body: 'ok-3' }]);
    await waitFor('two failures and a success', () => calls.length >= 3 || undefined);
    const seen = calls.map((c) => c.input.triggerValue as unknown[]);
    // Each attempt starts again at the first event after the last checkpoint.
    for (const s of seen.slice(0, 3)) expect(s[0]).toBe('ok-1');
    expect(seen[2]).toEqual(['ok-1', 'poisoned-once', 'ok-3']);
    expect(logs.some((l) => l.startsWith('warn') && l.includes('delivered again'))).toBe(true);
    // After the success, the checkpoint moved: later events come alone.
    await p.sendBatch([{ body: 'later' }]);
    await waitFor(
      'later',
      () => calls.some((c) => (c.input.triggerValue as unknown[]).includes('later')) || undefined,
    );
    const last = calls[calls.length - 1]!.input.triggerValue as unknown[];
    expect(last).toEqual(['later']);
    await p.close();
    const blobs: string[] = [];
    for await (const b of new ContainerClient(
      sharedStack().storageConnection,
      container,
    ).listBlobsFlat())
      blobs.push(b.name);
    expect(blobs.some((n) => n.includes('/checkpoint/'))).toBe(true);
  });

  it('resumes after the last checkpoint when the driver restarts', async () => {
    const container = uniqueName('ehcp');
    const fn = eventHubFunction('resume', {
      eventHubName: 'restart-hub',
      connection: 'EH_CONN',
      cardinality: 'many',
    });
    const p = new EventHubProducerClient(emu.connectionString(), 'restart-hub');
    const first = fakeHost(settings());
    const a = createEventHubsDriver({ checkpointContainer: container });
    await a.start([fn], first.host);
    for (let i = 0; i < 6; i++) await p.sendBatch([{ body: { i } }], { partitionKey: `k${i}` });
    await waitFor('first six', () =>
      first.calls.flatMap((c) => c.input.triggerValue as unknown[]).length >= 6 ? true : undefined,
    );
    // The checkpoint is written right after the handler returns; give that write a moment.
    await new Promise((r) => setTimeout(r, 300));
    await a.stop();
    for (let i = 6; i < 10; i++) await p.sendBatch([{ body: { i } }], { partitionKey: `k${i}` });

    const second = fakeHost(settings());
    const b = createEventHubsDriver({ checkpointContainer: container });
    drivers.push(b);
    await b.start([fn], second.host);
    const got = await waitFor('the four new events', () => {
      const v = second.calls.flatMap((c) => c.input.triggerValue as Array<{ i: number }>);
      return v.length >= 4 ? v : undefined;
    });
    await new Promise((r) => setTimeout(r, 1000)); // nothing older may trickle in
    const all = second.calls.flatMap((c) => c.input.triggerValue as Array<{ i: number }>);
    expect(all.map((e) => e.i).sort((x, y) => x - y)).toEqual([6, 7, 8, 9]);
    expect(got.length).toBe(4);
    await p.close();
  });

  it('a host restarted after a crash with its owner id takes its partitions back without waiting for its claims to lapse', async () => {
    const container = uniqueName('ehown');
    const fn = eventHubFunction('owner', {
      eventHubName: 'owner-hub',
      connection: 'EH_CONN',
      cardinality: 'many',
    });
    const p = new EventHubProducerClient(emu.connectionString(), 'owner-hub');
    const first = fakeHost(settings());
    const a = createEventHubsDriver({ checkpointContainer: container, ownerId: 'host-a' });
    await a.start([fn], first.host);
    await p.sendBatch([{ body: { i: 0 } }], { partitionId: '0' });
    await waitFor('the first event', () => first.calls.length > 0);
    await a.stop();
    // A clean stop gives the partitions up; a crash leaves them claimed. Claim them again as
    // host-a did, fresh: any other owner would wait 30 s for these claims to lapse.
    const store = new ContainerClient(sharedStack().storageConnection, container);
    let claims = 0;
    for await (const b of store.listBlobsFlat({ prefix: '', includeMetadata: true })) {
      if (!b.name.includes('/ownership/')) continue;
      await store.getBlobClient(b.name).setMetadata({ ...b.metadata, ownerid: 'host-a' });
      claims++;
    }
    expect(claims).toBe(2);

    const second = fakeHost(settings());
    const b = createEventHubsDriver({ checkpointContainer: container, ownerId: 'host-a' });
    drivers.push(b);
    await b.start([fn], second.host);
    await p.sendBatch([{ body: { i: 1 } }], { partitionId: '0' });
    await p.sendBatch([{ body: { i: 2 } }], { partitionId: '1' });
    const got = await waitFor(
      'both partitions delivering to the restarted host',
      () => {
        const v = second.calls.flatMap((c) => c.input.triggerValue as Array<{ i: number }>);
        return v.length >= 2 ? v : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(got.map((e) => e.i).sort()).toEqual([1, 2]);
    await p.close();
  });
});
