import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventHubProducerClient } from '@azure/event-hubs';
import {
  startEventHubsEmulator,
  type RunningEventHubsEmulator,
} from '../../../local/eventhubs/emulator';
import { createSite } from '../../../functions/controlPlane/sites';
import { call, enrollInto, requestIngestToken, testRoot } from './support';

// As infra/ deploys it: the ingest trigger listens with one rule, the agents' publisher tokens
// are signed with another that can only send.
let eh: RunningEventHubsEmulator;

beforeAll(async () => {
  eh = await startEventHubsEmulator({
    dataDir: mkdtempSync(join(tmpdir(), 'haven-eh-')),
    hubs: [{ name: 'haven-batches', partitions: 2 }],
    keys: [
      { name: 'haven-listen', key: 'bGlzdGVuLWtleS1mb3Itc2lnbmluZy10ZXN0cw==', rights: ['Listen'] },
      {
        name: 'haven-agent-signing',
        key: 'c2lnbi1rZXktZm9yLXNpZ25pbmctdGVzdHM=',
        rights: ['Send'],
      },
    ],
  });
  testRoot({
    eventHubs: {
      connection: eh.connectionString('haven-listen'),
      hub: 'haven-batches',
      signingConnection: eh.connectionString('haven-agent-signing'),
    },
  });
  await call(createSite, { path: 'sites', body: { name: 'lab' } });
});
afterAll(() => eh?.stop());

describe('agent tokens signed with the Send-only rule', () => {
  it('name that rule and send', async () => {
    const { machineId, credential } = await enrollInto('lab');
    const r = await requestIngestToken(machineId, credential);
    expect(r.status).toBe(200);
    const token: string = r.json.eventHubs.sasToken;
    expect(token).toMatch(/&skn=haven-agent-signing$/);
    const producer = new EventHubProducerClient(
      `Endpoint=sb://${eh.host}:${eh.port};SharedAccessSignature=${token};UseDevelopmentEmulator=true`,
      'haven-batches',
      { retryOptions: { maxRetries: 0, timeoutInMs: 5000 } },
    );
    try {
      await producer.sendBatch([{ body: 'hello' }], { partitionKey: machineId });
    } finally {
      await producer.close();
    }
  });
});
