import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventHubProducerClient } from '@azure/event-hubs';
import { createEventHubsDriver } from '../../../local/eventhubs/driver';
import type { HostLogger } from '../../../local/host/plugin';
import { startHost, type RunningHost } from '../../../local/host/startHost';
import { sharedStack } from '../../support/stack';
import { waitFor } from '../../support/waitFor';
import { readEvents } from '../host/readEvents';
import { startTestEmulator } from './helpers';

const quiet: HostLogger = { info: () => {}, warn: () => {}, error: () => {} };

interface Recorded {
  kinds: string[];
  bodies: unknown[];
  sequenceNumbers: number[];
  partitionKeys: unknown[];
  partitionContext: Record<string, unknown>;
  properties: unknown[];
}

describe('Event Hubs trigger through the local Functions host', () => {
  let host: RunningHost | undefined;
  let emu: Awaited<ReturnType<typeof startTestEmulator>> | undefined;
  afterAll(async () => {
    await host?.stop();
    await emu?.stop();
  });

  it('runs an app.eventHub function: Buffers and objects arrive as such, a failure is delivered again', async () => {
    emu = await startTestEmulator({
      hubs: [{ name: 'haven-batches', partitions: 1, consumerGroups: ['ingest'] }],
    });
    const stateDir = mkdtempSync(join(tmpdir(), 'eh-host-'));
    const out = join(stateDir, 'events.jsonl');
    const hostJsonPath = join(stateDir, 'host.json');
    writeFileSync(hostJsonPath, JSON.stringify({ version: '2.0' }));
    host = await startHost({
      entry: [join(__dirname, 'fixtures/eventHubApp.ts')],
      stateDir,
      masterKey: 'master-key-for-tests',
      hostJsonPath,
      settings: {
        FIXTURE_OUT: out,
        EH_HUB: 'haven-batches',
        EH_CONN: emu.connectionString(),
        AzureWebJobsStorage: sharedStack().storageConnection,
      },
      drivers: [
        createEventHubsDriver({ maxEventBatchSize: 8, checkpointContainer: `ehhost${Date.now()}` }),
      ],
      log: quiet,
    });
    const producer = new EventHubProducerClient(emu.connectionString(), 'haven-batches');
    await producer.sendBatch(
      [
        { body: Buffer.from('HVB1\x00\x01binary'), properties: { v: 1 } },
        { body: { kind: 'ref', seq: 2, failOnce: true } },
      ],
      { partitionKey: 'machine-1' },
    );
    await producer.close();
    const events = await waitFor('the recorded events', () => {
      const e = readEvents<Recorded>(out);
      return e.length >= 2 ? e : undefined;
    });
    // First delivery failed, the second is the same batch.
    expect(events[1]!.sequenceNumbers).toEqual(events[0]!.sequenceNumbers);
    expect(events[0]!.sequenceNumbers).toEqual([0, 1]);
    for (const e of events.slice(0, 2)) {
      // A mixed batch arrives as Buffers only (the worker protocol has no mixed collection).
      expect(e.kinds).toEqual(['buffer', 'buffer']);
      expect(e.bodies[0]).toBe(Buffer.from('HVB1\x00\x01binary').toString('hex'));
      expect(JSON.parse(Buffer.from(e.bodies[1] as string, 'hex').toString())).toEqual({
        kind: 'ref',
        seq: 2,
        failOnce: true,
      });
      expect(e.partitionKeys).toEqual(['machine-1', 'machine-1']);
      expect(e.partitionContext).toMatchObject({
        eventHubName: 'haven-batches',
        consumerGroup: 'ingest',
        partitionId: '0',
      });
      expect(e.properties[0]).toEqual({ v: 1 });
    }
    // A batch of JSON events arrives as objects.
    const again = new EventHubProducerClient(emu.connectionString(), 'haven-batches');
    await again.sendBatch([{ body: { kind: 'ref', seq: 3 } }, { body: { kind: 'ref', seq: 4 } }]);
    await again.close();
    const more = await waitFor('the recorded events', () => {
      const e = readEvents<Recorded>(out);
      return e.length >= 3 ? e : undefined;
    });
    expect(more[2]!.kinds).toEqual(['object', 'object']);
    expect(more[2]!.bodies).toEqual([
      { kind: 'ref', seq: 3 },
      { kind: 'ref', seq: 4 },
    ]);
    expect(more[2]!.sequenceNumbers).toEqual([2, 3]);
  });
});
