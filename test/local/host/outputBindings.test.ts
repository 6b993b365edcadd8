import { afterAll, describe, expect, it } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHost, type RunningHost } from '../../../local/host/startHost';
import type { HostLogger } from '../../../local/host/plugin';
import { sharedStack, uniqueName } from '../../support/stack';
import { waitFor } from '../../support/waitFor';
import { readEvents } from './readEvents';

const quiet: HostLogger = { info: () => {}, warn: () => {}, error: () => {} };
const hosts: RunningHost[] = [];
afterAll(() => Promise.all(hosts.map((h) => h.stop())));

describe('host bindings and limits', () => {
  it('writes storage queue and blob output bindings after the invocation', async () => {
    const conn = sharedStack().storageConnection;
    const queueName = uniqueName('out');
    const containerName = uniqueName('out');
    const host = await startHost({
      entry: [join(__dirname, 'fixtures/outputApp.ts')],
      stateDir: mkdtempSync(join(tmpdir(), 'out-')),
      masterKey: 'master-key-for-tests',
      settings: { AzureWebJobsStorage: conn, OUT_QUEUE: queueName, OUT_CONTAINER: containerName },
      log: quiet,
    });
    hosts.push(host);
    const res = await fetch(`${host.baseUrl}/api/emit/m7`, {
      method: 'POST',
      body: JSON.stringify({ x: 1 }),
    });
    expect(res.status).toBe(202);
    const queue = QueueServiceClient.fromConnectionString(conn).getQueueClient(queueName);
    const messages = (await queue.receiveMessages({ numberOfMessages: 10 })).receivedMessageItems;
    expect(
      messages.map((m) => JSON.parse(Buffer.from(m.messageText, 'base64').toString())),
    ).toEqual([
      { id: 'm7', n: 1 },
      { id: 'm7', n: 2 },
    ]);
    const container =
      BlobServiceClient.fromConnectionString(conn).getContainerClient(containerName);
    const blobs: string[] = [];
    for await (const b of container.listBlobsFlat()) blobs.push(b.name);
    expect(blobs).toHaveLength(1);
    expect(blobs[0]).toMatch(/^m7\/[\da-f-]{36}\.json$/);
    const content = await container.getBlockBlobClient(blobs[0]!).downloadToBuffer();
    expect(JSON.parse(content.toString())).toEqual({ id: 'm7', x: 1 });
  });

  it('fails an invocation that outlives host.json functionTimeout', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'slow-'));
    const hostJsonPath = join(stateDir, 'host.json');
    writeFileSync(hostJsonPath, JSON.stringify({ version: '2.0', functionTimeout: '00:00:01' }));
    const errors: string[] = [];
    const out = join(stateDir, 'events.jsonl');
    const host = await startHost({
      entry: [join(__dirname, 'fixtures/slowApp.ts')],
      stateDir,
      hostJsonPath,
      masterKey: 'master-key-for-tests',
      settings: { FIXTURE_OUT: out },
      log: { ...quiet, error: (m) => errors.push(m) },
    });
    hosts.push(host);
    await waitFor('one event', () => readEvents(out).length === 1);
    const message = await waitFor('the failed execution of slow', () =>
      errors.find((m) => m.includes("Executed 'slow' (Failed")),
    );
    expect(message).toContain('timed out after 1000 ms');
  });
});
