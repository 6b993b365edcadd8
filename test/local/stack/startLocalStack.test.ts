import { afterEach, describe, expect, it } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TriggerDriver } from '../../../local/host/plugin';
import { parseLocalEnv } from '../../../local/stack/localEnvFile';
import type { StackService } from '../../../local/stack/stackService';
import { startLocalStack, type LocalStack } from '../../../local/stack/startLocalStack';

const entry = [join(__dirname, '../host/fixtures/stackApp.ts')];
let stack: LocalStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe('startLocalStack', () => {
  it('keeps Cosmos data, blobs and generated keys across a restart, and writes local.env', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'stack-'));
    let driverStarted = 0;
    const driver: TriggerDriver = {
      triggerTypes: ['nothingTrigger'],
      start: async () => void driverStarted++,
      stop: async () => {},
    };
    const service: StackService = {
      name: 'fake',
      start: async (ctx) => ({
        settings: { FAKE_ENDPOINT: `fake://${ctx.hostBaseUrl}`, FAKE_SECRET: 'hidden' },
        private: ['FAKE_SECRET'],
        drivers: [driver],
      }),
    };
    stack = await startLocalStack({ stateDir, port: 0, entry, services: [service] });
    const key = stack.env.HAVEN_ADMIN_KEY!;
    const env = parseLocalEnv(readFileSync(join(stateDir, 'local.env'), 'utf8'));
    expect(env).toEqual(stack.env);
    expect(Object.keys(env).sort()).toEqual([
      'FAKE_ENDPOINT',
      'HAVEN_ADMIN_KEY',
      'HAVEN_API_URL',
      'HAVEN_COSMOS_ENDPOINT',
      'HAVEN_COSMOS_KEY',
      'HAVEN_STORAGE_CONNECTION',
    ]);
    expect(env.HAVEN_API_URL).toBe(`${stack.baseUrl}/api`);
    expect(
      stack.settings.HAVEN_KEK && Buffer.from(stack.settings.HAVEN_KEK, 'base64'),
    ).toHaveLength(32);
    expect(stack.settings.HAVEN_HOST_NUDGE_URL).toBe(`${stack.baseUrl}/admin/host/blob-written`);
    expect(driverStarted).toBe(1);

    const put = await fetch(`${stack.apiUrl}/notes/n1`, {
      method: 'PUT',
      body: 'remember me',
      headers: { 'x-functions-key': key },
    });
    expect(put.status).toBe(204);
    expect((await fetch(`${stack.apiUrl}/notes/n1`)).status).toBe(401);
    const container = BlobServiceClient.fromConnectionString(
      env.HAVEN_STORAGE_CONNECTION!,
    ).getContainerClient('keep');
    await container.createIfNotExists();
    await container.getBlockBlobClient('b').upload('blob survives', 13);
    const kek = stack.settings.HAVEN_KEK;
    await stack.stop();

    stack = await startLocalStack({ stateDir, port: 0, entry, services: [] });
    expect(stack.env.HAVEN_ADMIN_KEY).toBe(key);
    expect(stack.settings.HAVEN_KEK).toBe(kek);
    const got = await fetch(`${stack.apiUrl}/notes/n1`, { headers: { 'x-functions-key': key } });
    expect(await got.text()).toBe('remember me');
    const again = BlobServiceClient.fromConnectionString(
      stack.env.HAVEN_STORAGE_CONNECTION!,
    ).getContainerClient('keep');
    expect((await again.getBlockBlobClient('b').downloadToBuffer()).toString()).toBe(
      'blob survives',
    );
  });

  it('starts from scratch with fresh, and keeps nothing in memory mode', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'stack-'));
    stack = await startLocalStack({ stateDir, port: 0, entry, services: [] });
    const key = stack.env.HAVEN_ADMIN_KEY!;
    await fetch(`${stack.apiUrl}/notes/n2`, {
      method: 'PUT',
      body: 'x',
      headers: { 'x-functions-key': key },
    });
    await stack.stop();
    stack = await startLocalStack({ stateDir, port: 0, entry, services: [], fresh: true });
    const key2 = stack.env.HAVEN_ADMIN_KEY!;
    expect(key2).not.toBe(key);
    expect(
      (await fetch(`${stack.apiUrl}/notes/n2`, { headers: { 'x-functions-key': key2 } })).status,
    ).toBe(404);
    await stack.stop();
    stack = await startLocalStack({ stateDir, port: 0, entry, services: [], persistent: false });
    await fetch(`${stack.apiUrl}/notes/n3`, {
      method: 'PUT',
      body: 'x',
      headers: { 'x-functions-key': stack.env.HAVEN_ADMIN_KEY! },
    });
    const key3 = stack.env.HAVEN_ADMIN_KEY!;
    await stack.stop();
    stack = await startLocalStack({ stateDir, port: 0, entry, services: [], persistent: false });
    const res = await fetch(`${stack.apiUrl}/notes/n3`, {
      headers: { 'x-functions-key': stack.env.HAVEN_ADMIN_KEY! },
    });
    expect(res.status).toBe(404);
    expect(stack.env.HAVEN_ADMIN_KEY).not.toBe(key3);
  });

  it('with a replica account: a second emulator, its own account, in the settings and local.env', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'stack-'));
    stack = await startLocalStack({ stateDir, port: 0, entry, services: [], replicaAccount: true });
    const conn = stack.settings.HAVEN_REPLICA_STORAGE_CONNECTION!;
    expect(conn).toMatch(/AccountName=havenreplicas;/);
    expect(stack.env.HAVEN_REPLICA_STORAGE_CONNECTION).toBe(conn);
    const replicas = BlobServiceClient.fromConnectionString(conn);
    const main = BlobServiceClient.fromConnectionString(stack.settings.HAVEN_STORAGE_CONNECTION!);
    expect(new URL(replicas.url).port).not.toBe(new URL(main.url).port);
    await replicas.getContainerClient('replicas').create();
    expect(await replicas.getContainerClient('replicas').exists()).toBe(true);
    expect(await main.getContainerClient('replicas').exists()).toBe(false);
    // Persistent: the replica account keeps its blobs across a restart, in its own directory.
    await stack.stop();
    stack = await startLocalStack({ stateDir, port: 0, entry, services: [], replicaAccount: true });
    const again = BlobServiceClient.fromConnectionString(
      stack.settings.HAVEN_REPLICA_STORAGE_CONNECTION!,
    );
    expect(await again.getContainerClient('replicas').exists()).toBe(true);
    // Without the option there is one account, as before.
    await stack.stop();
    stack = await startLocalStack({ stateDir, port: 0, entry, services: [] });
    expect(stack.settings.HAVEN_REPLICA_STORAGE_CONNECTION).toBeUndefined();
  });

  it('reports a service that fails to start by name and leaves nothing running', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'stack-'));
    let seen: Record<string, string> = {};
    let stoppedFirst = false;
    const first: StackService = {
      name: 'first',
      start: async (ctx) => {
        seen = { ...ctx.settings };
        return { stop: async () => void (stoppedFirst = true) };
      },
    };
    const broken: StackService = {
      name: 'broken',
      start: async () => {
        throw new Error('no licence');
      },
    };
    await expect(
      startLocalStack({ stateDir, port: 0, entry, services: [first, broken], persistent: false }),
    ).rejects.toThrow("Service 'broken' failed to start: no licence");
    expect(stoppedFirst).toBe(true);
    const blobEndpoint = /BlobEndpoint=([^;]+)/.exec(seen.HAVEN_STORAGE_CONNECTION!)![1]!;
    await expect(fetch(`${blobEndpoint}?comp=list`)).rejects.toThrow();
    await expect(fetch(`${seen.HAVEN_COSMOS_ENDPOINT}/`)).rejects.toThrow();
  });
});
