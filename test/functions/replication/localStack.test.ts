import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventHubProducerClient } from '@azure/event-hubs';
import { startLocalStack, type LocalStack } from '../../../local/stack/startLocalStack';
import { bookmark, data, TestDisk, zero } from '../../core/replication/support';
import { waitFor } from '../../support/waitFor';

const MiB = 1024 * 1024;

/**
 * The whole cloud data path on the local stack: real Event Hubs endpoint + trigger driver,
 * ingest → staging → (host nudge) hydrate → recovery point, read through the machine routes.
 * The blob scan interval is long, so only the nudge can make hydrate run in time.
 */
describe('replication on the local stack', () => {
  let stack: LocalStack | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it('events in, recovery point out: the restored snapshot equals the source at the bookmark', async () => {
    stack = await startLocalStack({
      stateDir: mkdtempSync(join(tmpdir(), 'haven-repl-')),
      persistent: false,
      port: 0,
      entry: [join(__dirname, '../../../functions/index.ts')],
      blobPollIntervalMs: 10 * 60_000,
    });
    const admin = {
      'x-functions-key': stack.settings.HAVEN_ADMIN_KEY!,
      'content-type': 'application/json',
    };
    const api = async (
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = admin,
    ) => {
      const res = await fetch(`${stack!.apiUrl}/${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    };
    expect((await api('POST', 'sites', { name: 'lab' })).status).toBe(201);
    const token = (await api('POST', 'sites/lab/enrollment-tokens', {})).json.token;
    const e = await api('POST', 'enroll', {
      token,
      hostname: 'h1',
      os: 'linux',
      disks: [{ id: 'sda', sizeBytes: 3 * MiB, logicalSectorSize: 512 }],
    });
    expect(e.status).toBe(201);
    const { machineId, credential, dataKey } = e.json;
    expect((await api('POST', `machines/${machineId}/protect`, {})).status).toBeLessThan(300);
    const d = new TestDisk(
      { machineId, keyId: dataKey.keyId, key: Buffer.from(dataKey.key, 'base64') },
      'sda',
      3 * MiB,
    );

    const producer = new EventHubProducerClient(
      stack.settings.HAVEN_EVENTHUBS_CONNECTION!,
      stack.settings.HAVEN_EVENTHUBS_HUB!,
    );
    const t = new Date().toISOString();
    const envelopes = [
      d.batch([data(0, 512 * 1024)]),
      d.batch([data(256 * 1024, 64 * 1024), zero(1 * MiB, 128 * 1024)]),
      d.batch([data(2 * MiB + 512, 4096)], bookmark('bk-local', t)),
    ];
    // Out of order on purpose: the hydrator waits for the gap.
    for (const i of [2, 0, 1]) {
      await producer.sendBatch(
        [{ body: envelopes[i]!, contentType: 'application/vnd.haven.batch' }],
        { partitionKey: machineId },
      );
    }
    await producer.close();

    const machine = { authorization: `Bearer ${credential}` };
    const point = await waitFor(
      'point bk-local materialized',
      async () => {
        const p = await api(
          'GET',
          `machines/${machineId}/agent/recovery-points/bk-local`,
          undefined,
          machine,
        );
        return p.status === 200 && p.json.materialized ? p : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(point.status).toBe(200);
    expect(point.json.disks[0].sha256).toBe(d.digest());
    const link = await api(
      'GET',
      `machines/${machineId}/agent/recovery-points/bk-local/disks/sda/read-url`,
      undefined,
      machine,
    );
    expect(link.status).toBe(200);
    const bytes = Buffer.from(await (await fetch(link.json.url)).arrayBuffer());
    expect(bytes.subarray(0, d.size).equals(d.image)).toBe(true);
    const m = await api('GET', `machines/${machineId}`);
    expect(m.json.health).toMatchObject({ lastPoint: { id: 'bk-local' }, backlogBytes: 0 });
    // The first complete point ends the initial sync: the enable-protection saga marks it protected.
    await waitFor(
      'the machine protected',
      async () =>
        (await api('GET', `machines/${machineId}`)).json.protection?.state === 'protected',
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  });
});
