import { describe, expect, it } from 'vitest';
import {
  earliestEventPosition,
  EventHubConsumerClient,
  EventHubProducerClient,
} from '@azure/event-hubs';
import * as rhea from 'rhea';
import { partitionForKey } from '../../../local/eventhubs/emulator';
import { createSasToken } from '../../../local/eventhubs/sas';
import { errorOf, fastRetry, KEY, readPartition, useSdkEmulator } from './helpers';

describe('local Event Hubs endpoint with the real SDK: keys, tokens and SASL', () => {
  const sdk = useSdkEmulator();

  it('refuses a wrong key and an expired SAS token with an authorization error', async () => {
    const wrong = new EventHubProducerClient(
      `Endpoint=sb://127.0.0.1:${sdk.emu.port};SharedAccessKeyName=${KEY.name};SharedAccessKey=not-the-key;UseDevelopmentEmulator=true`,
      'hub',
      fastRetry,
    );
    expect((await errorOf(wrong.sendBatch([{ body: 1 }]))).code).toBe('UnauthorizedError');
    expect((await errorOf(wrong.getPartitionIds())).code).toBe('UnauthorizedError');
    await wrong.close();

    const unknownKey = new EventHubProducerClient(
      `Endpoint=sb://127.0.0.1:${sdk.emu.port};SharedAccessKeyName=ghost;SharedAccessKey=${KEY.key};UseDevelopmentEmulator=true`,
      'hub',
      fastRetry,
    );
    expect((await errorOf(unknownKey.sendBatch([{ body: 1 }]))).code).toBe('UnauthorizedError');
    await unknownKey.close();

    const expired = createSasToken(
      `sb://127.0.0.1:${sdk.emu.port}/hub`,
      KEY.name,
      KEY.key,
      Math.floor(Date.now() / 1000) - 60,
    );
    const stale = new EventHubProducerClient(
      `Endpoint=sb://127.0.0.1:${sdk.emu.port};SharedAccessSignature=${expired};UseDevelopmentEmulator=true;EntityPath=hub`,
      fastRetry,
    );
    expect((await errorOf(stale.sendBatch([{ body: 1 }]))).code).toBe('UnauthorizedError');
    await stale.close();

    // A valid token signed the Azure way (lower-cased resource) works.
    const valid = createSasToken(
      `sb://127.0.0.1:${sdk.emu.port}/hub`,
      KEY.name,
      KEY.key,
      Math.floor(Date.now() / 1000) + 600,
    );
    const ok = new EventHubProducerClient(
      `Endpoint=sb://127.0.0.1:${sdk.emu.port};SharedAccessSignature=${valid};UseDevelopmentEmulator=true;EntityPath=hub`,
      fastRetry,
    );
    await ok.sendBatch([{ body: 'signed-by-hand' }], { partitionId: '0' });
    await ok.close();
  });

  it('refuses sending with a listen-only key', async () => {
    const listener = new EventHubProducerClient(
      sdk.emu.connectionString('listen-only'),
      'hub',
      fastRetry,
    );
    expect((await errorOf(listener.sendBatch([{ body: 1 }]))).code).toBe('UnauthorizedError');
    await listener.close();
  });

  it('binds a publisher-scoped token to its publisher: send only, only as itself', async () => {
    const expiry = Math.floor(Date.now() / 1000) + 600;
    const token = createSasToken(
      `sb://127.0.0.1:${sdk.emu.port}/haven-batches/publishers/m1`,
      KEY.name,
      KEY.key,
      expiry,
    );
    const cs = `Endpoint=sb://127.0.0.1:${sdk.emu.port};SharedAccessSignature=${token};UseDevelopmentEmulator=true;EntityPath=haven-batches`;
    const agent = new EventHubProducerClient(cs, fastRetry);
    await agent.sendBatch([{ body: 'as-m1' }], { partitionKey: 'm1' });
    await agent.sendBatch([{ body: 'implicit-m1' }]);
    const partition = String(partitionForKey('m1', 2));
    const admin = new EventHubProducerClient(sdk.emu.connectionString(), 'haven-batches');
    const props = await admin.getPartitionProperties(partition);
    await admin.close();
    const events = await readPartition(
      sdk.emu.connectionString(),
      'haven-batches',
      partition,
      earliestEventPosition,
      props.lastEnqueuedSequenceNumber + 1,
    );
    const bodies = events.map((e) => [e.body, e.partitionKey]);
    expect(bodies).toContainEqual(['as-m1', 'm1']);
    expect(bodies).toContainEqual(['implicit-m1', 'm1']);
    const stamped = events.find((e) => e.body === 'as-m1')!;
    expect(stamped.systemProperties?.['x-opt-publisher']).toBe('m1');

    expect((await errorOf(agent.sendBatch([{ body: 'as-m2' }], { partitionKey: 'm2' }))).code).toBe(
      'UnauthorizedError',
    );
    expect((await errorOf(agent.sendBatch([{ body: 'pinned' }], { partitionId: '0' }))).code).toBe(
      'UnauthorizedError',
    );
    await agent.close();

    const reader = new EventHubConsumerClient('$Default', cs, fastRetry);
    const err = await new Promise<{ code?: string }>((resolve) => {
      const sub = reader.subscribe('0', {
        processEvents: async () => undefined,
        processError: async (e) => {
          await sub.close();
          resolve(e as { code?: string });
        },
      });
    });
    expect(err.code).toBe('UnauthorizedError');
    await reader.close();

    const other = createSasToken(
      `sb://127.0.0.1:${sdk.emu.port}/haven-batches/publishers/m1`,
      KEY.name,
      'wrong',
      expiry,
    );
    const forged = new EventHubProducerClient(
      `Endpoint=sb://127.0.0.1:${sdk.emu.port};SharedAccessSignature=${other};UseDevelopmentEmulator=true;EntityPath=haven-batches`,
      fastRetry,
    );
    expect((await errorOf(forged.sendBatch([{ body: 'x' }]))).code).toBe('UnauthorizedError');
    await forged.close();
  });

  it('accepts SASL PLAIN only with a configured key, and ANONYMOUS', async () => {
    const attempt = (opts: Record<string, unknown>) =>
      new Promise<string>((resolve) => {
        const c = rhea.create_container();
        const conn = c.connect({
          host: '127.0.0.1',
          port: sdk.emu.port,
          reconnect: false,
          ...opts,
        } as rhea.ConnectionOptions);
        conn.on('connection_open', () => {
          conn.close();
          resolve('open');
        });
        conn.on('connection_error', () => resolve('refused'));
        conn.on('disconnected', () => resolve('refused'));
      });
    expect(await attempt({ username: KEY.name, password: KEY.key })).toBe('open');
    expect(await attempt({ username: KEY.name, password: 'wrong' })).toBe('refused');
    expect(await attempt({})).toBe('open');
  });

  it('detaches a link once its token expires; the expired token is then refused', async () => {
    const expiry = Math.floor(Date.now() / 1000) + 2;
    const token = createSasToken(`sb://127.0.0.1:${sdk.emu.port}/hub`, KEY.name, KEY.key, expiry);
    const shortLived = new EventHubProducerClient(
      `Endpoint=sb://127.0.0.1:${sdk.emu.port};SharedAccessSignature=${token};UseDevelopmentEmulator=true;EntityPath=hub`,
      { retryOptions: { maxRetries: 0, timeoutInMs: 2000 } },
    );
    await shortLived.sendBatch([{ body: 'while-valid' }], { partitionId: '0' });
    // A send racing the detach may time out instead; the next one must be refused.
    let code: string | undefined;
    for (let i = 0; i < 40 && code !== 'UnauthorizedError'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      code = await shortLived.sendBatch([{ body: 'after-expiry' }], { partitionId: '0' }).then(
        () => undefined,
        (e: { code?: string }) => e.code ?? 'unknown',
      );
    }
    expect(Date.now() / 1000).toBeGreaterThanOrEqual(expiry);
    expect(code).toBe('UnauthorizedError');
    await shortLived.close();
  });
});
