import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventHubProducerClient } from '@azure/event-hubs';
import { BlockBlobClient } from '@azure/storage-blob';
import {
  startEventHubsEmulator,
  type RunningEventHubsEmulator,
} from '../../../local/eventhubs/emulator';
import { createSite } from '../../../functions/controlPlane/sites';
import { health } from '../../../functions/controlPlane/health';
import { call, enrollInto, requestIngestToken, testRoot } from './support';

let eh: RunningEventHubsEmulator;

beforeAll(async () => {
  eh = await startEventHubsEmulator({
    dataDir: mkdtempSync(join(tmpdir(), 'haven-eh-')),
    hubs: [{ name: 'haven-batches', partitions: 2 }],
    keys: [
      { name: 'send', key: 'c2VuZC1rZXktZm9yLWluZ2VzdC10ZXN0cw==', rights: ['Send'] },
      { name: 'listen', key: 'bGlzdGVuLWtleS1mb3ItaW5nZXN0LXRlc3Rz', rights: ['Listen'] },
    ],
  });
  // As infra/ deploys it: the trigger listens with one rule, agent tokens are signed with
  // another that can only send.
  testRoot({
    eventHubs: {
      connection: eh.connectionString('listen'),
      hub: 'haven-batches',
      signingConnection: eh.connectionString('send'),
    },
  });
  await call(createSite, { path: 'sites', body: { name: 'lab' } });
});
afterAll(() => eh?.stop());

const producerWith = (token: string) =>
  new EventHubProducerClient(
    `Endpoint=sb://${eh.host}:${eh.port};SharedAccessSignature=${token};UseDevelopmentEmulator=true`,
    'haven-batches',
    { retryOptions: { maxRetries: 0, timeoutInMs: 5000 } },
  );

describe('ingest credentials against the local Event Hubs endpoint and Azurite', () => {
  it('the publisher SAS token sends events; a tampered one is refused', async () => {
    const { machineId, credential } = await enrollInto('lab');
    const r = await requestIngestToken(machineId, credential);
    expect(r.status).toBe(200);
    const token: string = r.json.eventHubs.sasToken;
    expect(token).toMatch(/&skn=send$/); // the Send-only rule, not the trigger's
    expect(r.json.eventHubs.useDevelopmentEmulator).toBe(true);

    const producer = producerWith(token);
    try {
      await producer.sendBatch([{ body: 'hello' }], { partitionKey: machineId });
    } finally {
      await producer.close();
    }

    const forged = encodeURIComponent(Buffer.alloc(32, 1).toString('base64'));
    const tampered = token.replace(/sig=[^&]+/, `sig=${forged}`);
    const bad = producerWith(tampered);
    try {
      await expect(bad.sendBatch([{ body: 'x' }], { partitionKey: machineId })).rejects.toThrow();
    } finally {
      await bad.close();
    }
  });

  it("the blob SAS creates in the machine's own container only, and reads nothing", async () => {
    const { machineId, credential } = await enrollInto('lab');
    const r = await requestIngestToken(machineId, credential);
    const { containerUrl, prefix, sas } = r.json.blob;
    const blob = new BlockBlobClient(`${containerUrl}/${prefix}batch-1?${sas}`);
    await blob.upload(Buffer.from('payload'), 7);
    await expect(blob.downloadToBuffer()).rejects.toMatchObject({ statusCode: 403 });
    const other = new BlockBlobClient(
      `${containerUrl}/${prefix}batch-2?${sas.replace(/sig=[^&]+/, 'sig=AAAA')}`,
    );
    await expect(other.upload(Buffer.from('x'), 1)).rejects.toMatchObject({ statusCode: 403 });
    // Another machine's container with this machine's SAS: refused.
    const neighbour = await enrollInto('lab');
    const theirs = (await requestIngestToken(neighbour.machineId, neighbour.credential)).json.blob;
    const intrude = new BlockBlobClient(`${theirs.containerUrl}/${neighbour.machineId}/x?${sas}`);
    await expect(intrude.upload(Buffer.from('x'), 1)).rejects.toMatchObject({ statusCode: 403 });
  });

  it('health reports the Event Hubs endpoint as ok', async () => {
    const res = await call(health, { path: 'health' });
    expect(
      res.json.dependencies.map((d: { name: string; status: string }) => [d.name, d.status]),
    ).toEqual([
      ['cosmos', 'ok'],
      ['storage', 'ok'],
      ['eventHubs', 'ok'],
    ]);
    expect(res.status).toBe(200);
  });
});
