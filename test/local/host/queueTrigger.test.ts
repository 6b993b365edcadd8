import { afterAll, describe, expect, it } from 'vitest';
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
let host: RunningHost | undefined;
afterAll(() => host?.stop());

const encode = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');

describe('storage queue trigger', () => {
  it('delivers base64 messages once, retries failures with dequeueCount and then moves them to the poison queue', async () => {
    const conn = sharedStack().storageConnection;
    const queueName = uniqueName('work');
    const stateDir = mkdtempSync(join(tmpdir(), 'queue-'));
    const hostJsonPath = join(stateDir, 'host.json');
    writeFileSync(
      hostJsonPath,
      JSON.stringify({
        version: '2.0',
        extensions: { queues: { maxDequeueCount: 3, visibilityTimeout: '00:00:00' } },
      }),
    );
    const out = join(stateDir, 'events.jsonl');
    host = await startHost({
      entry: [join(__dirname, 'fixtures/queueApp.ts')],
      stateDir,
      masterKey: 'master-key-for-tests',
      hostJsonPath,
      settings: { FIXTURE_OUT: out, WORK_QUEUE: queueName, AzureWebJobsStorage: conn },
      queueMaxPollIntervalMs: 200,
      log: quiet,
    });
    const svc = QueueServiceClient.fromConnectionString(conn);
    await svc.getQueueClient(queueName).sendMessage(encode({ id: 'good' }));
    await svc.getQueueClient(queueName).sendMessage(encode({ id: 'bad', fail: true }));
    const poison = svc.getQueueClient(`${queueName}-poison`);
    const poisoned = await waitFor('the poison message', async () => {
      if (!(await poison.exists())) return undefined;
      const m = await poison.peekMessages();
      return m.peekedMessageItems[0];
    });
    expect(JSON.parse(Buffer.from(poisoned.messageText, 'base64').toString())).toEqual({
      id: 'bad',
      fail: true,
    });
    const events = readEvents<{ id: string; dequeueCount: number }>(out);
    expect(events.filter((e) => e.id === 'good').map((e) => e.dequeueCount)).toEqual([1]);
    expect(events.filter((e) => e.id === 'bad').map((e) => e.dequeueCount)).toEqual([1, 2, 3]);
    const left = await svc.getQueueClient(queueName).getProperties();
    expect(left.approximateMessagesCount).toBe(0);
  });
});
