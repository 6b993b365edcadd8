import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventHubProducerClient } from '@azure/event-hubs';
import { ContainerClient } from '@azure/storage-blob';
import { createEventHubsDriver } from '../../../local/eventhubs/driver';
import type { TriggerDriver } from '../../../local/host/plugin';
import { sharedStack, uniqueName } from '../../support/stack';
import { eventHubFunction, fakeHost, startTestEmulator, driverSettings } from './helpers';
import { waitFor } from '../../support/waitFor';

type Emulator = Awaited<ReturnType<typeof startTestEmulator>>;

// Checkpoints: a batch that failed for good is passed, a restarted driver resumes after its checkpoint and
// takes its partitions back. Delivery and trigger metadata are in driverDelivery.test.ts.
describe('Event Hubs trigger driver (real SDK, checkpoints in Azurite)', () => {
  let emu: Emulator;
  const drivers: TriggerDriver[] = [];

  beforeAll(async () => {
    emu = await startTestEmulator({
      hubs: [
        { name: 'retry-hub', partitions: 1 },
        { name: 'restart-hub', partitions: 2 },
        { name: 'owner-hub', partitions: 2 },
        { name: 'stop-hub', partitions: 1 },
      ],
    });
  });
  afterAll(async () => {
    for (const d of drivers) await d.stop();
    await emu?.stop();
  });

  const settings = (extra: Record<string, string> = {}) => driverSettings(emu, extra);

  it('checkpoints past a batch whose invocation failed with no retry left, as Azure does', async () => {
    // The host (hostInvoke.ts) runs the function's retry policy; this fake host has none, so
    // a failure is final, and the Functions host then moves on: a function that must not lose
    // a batch needs a retry policy (ingestRetry.test.ts, host.test.ts).
    const { host, calls, logs } = fakeHost(settings(), (call) => {
      const bodies = call.input.triggerValue as unknown[];
      if (bodies.includes('fails')) throw new Error('dependency down');
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
    await p.sendBatch([{ body: 'ok-1' }, { body: 'fails' }, { body: 'ok-3' }]);
    await waitFor('the failed invocation', () => calls.length >= 1 || undefined);
    await p.sendBatch([{ body: 'later' }]);
    await waitFor(
      'later',
      () => calls.some((c) => (c.input.triggerValue as unknown[]).includes('later')) || undefined,
    );
    // Invoked once, then the next events come alone: the checkpoint moved past the failure.
    expect(calls.map((c) => c.input.triggerValue)).toEqual([['ok-1', 'fails', 'ok-3'], ['later']]);
    expect(logs.some((l) => l.startsWith('error') && l.includes('the batch is skipped'))).toBe(
      true,
    );
    await p.close();
    const blobs: string[] = [];
    for await (const b of new ContainerClient(
      sharedStack().storageConnection,
      container,
    ).listBlobsFlat())
      blobs.push(b.name);
    expect(blobs.some((n) => n.includes('/checkpoint/'))).toBe(true);
  });

  it('a batch that failed because the host is stopping is not checkpointed past: it comes again', async () => {
    const container = uniqueName('ehcp');
    const fn = eventHubFunction('stopping', {
      eventHubName: 'stop-hub',
      connection: 'EH_CONN',
      cardinality: 'many',
    });
    const p = new EventHubProducerClient(emu.connectionString(), 'stop-hub');
    let stopping = false;
    // The host cut the invocation's retries short: it is stopping (hostInvoke.ts).
    const first = fakeHost(settings(), () => {
      stopping = true;
      throw new Error('retries cut short: the host is stopping');
    });
    first.host.isStopping = () => stopping;
    const a = createEventHubsDriver({ checkpointContainer: container });
    await a.start([fn], first.host);
    await p.sendBatch([{ body: 'in-flight' }]);
    await waitFor('the failed invocation', () => first.calls.length >= 1 || undefined);
    await new Promise((r) => setTimeout(r, 300)); // a checkpoint write would be done by now
    await a.stop();
    expect(first.logs.some((l) => l.includes('the batch is skipped'))).toBe(false);

    const second = fakeHost(settings());
    const b = createEventHubsDriver({ checkpointContainer: container });
    drivers.push(b);
    await b.start([fn], second.host);
    await waitFor('the same batch again', () => second.calls.length >= 1 || undefined);
    expect(second.calls[0]!.input.triggerValue).toEqual(['in-flight']);
    await p.close();
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
