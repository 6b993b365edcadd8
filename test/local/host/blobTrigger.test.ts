import { afterEach, describe, expect, it } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { built } from '../../support/procs';
import { sharedStack, uniqueName } from '../../support/stack';
import { spawnHost, type HostProcess } from './hostProcess';
import { waitFor } from '../../support/waitFor';
import { readEvents } from './readEvents';

interface BlobEvent {
  dir: string;
  file: string;
  path: string;
  etag: string;
  sha: string;
  isBuffer: boolean;
}

const masterKey = 'blob-test-master-key-0123456789';
const running: HostProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((h) => h.stop()));
});

async function host(stateDir: string, container: string, pollMs: number, extra: string[] = []) {
  const h = await spawnHost([
    '--entry',
    built(join(__dirname, 'fixtures/blobApp.ts')),
    '--port',
    '0',
    '--state-dir',
    stateDir,
    '--master-key',
    masterKey,
    '--blob-poll-ms',
    String(pollMs),
    '--setting',
    `FIXTURE_OUT=${join(stateDir, 'events.jsonl')}`,
    '--setting',
    `BLOB_CONTAINER=${container}`,
    '--setting',
    `AzureWebJobsStorage=${sharedStack().storageConnection}`,
    ...extra,
  ]);
  running.push(h);
  return h;
}

/** A new container for the fixture's trigger to watch, and a host state dir for its event log. */
async function watchedContainer(prefix: string) {
  const name = uniqueName(prefix);
  const container = BlobServiceClient.fromConnectionString(
    sharedStack().storageConnection,
  ).getContainerClient(name);
  await container.create();
  const stateDir = mkdtempSync(join(tmpdir(), 'blob-'));
  return { name, container, stateDir, out: join(stateDir, 'events.jsonl') };
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('blob trigger', () => {
  it('delivers each blob version once, also across a host restart', async () => {
    const { name, container, stateDir, out } = await watchedContainer('blobs');
    await container.getBlockBlobClient('d1/a.bin').upload('alpha', 5);
    await container.getBlockBlobClient('top-level.bin').upload('ignored', 7); // does not match {dir}/{file}

    const first = await host(stateDir, name, 200);
    await waitFor('a first event', () => readEvents(out).length >= 1);
    expect(await first.stop()).toBe(0);

    await container.getBlockBlobClient('d2/b.bin').upload('beta', 4);
    await host(stateDir, name, 200);
    await waitFor('the event for b.bin', () =>
      readEvents<BlobEvent>(out).some((e) => e.file === 'b.bin'),
    );
    await container.getBlockBlobClient('d1/a.bin').upload('alpha-2', 7); // new ETag: new delivery
    const events = await waitFor('the blob events', () => {
      const e = readEvents<BlobEvent>(out);
      return e.filter((x) => x.file === 'a.bin').length >= 2 && e;
    });
    const a = events.filter((e) => e.file === 'a.bin');
    expect(a.map((e) => e.sha)).toEqual([sha('alpha'), sha('alpha-2')]);
    expect(a[0]!.etag).not.toBe(a[1]!.etag);
    expect(a[0]).toMatchObject({ dir: 'd1', path: `${name}/d1/a.bin`, isBuffer: true });
    expect(events.filter((e) => e.file === 'b.bin')).toHaveLength(1);
    expect(events.some((e) => e.path.includes('top-level'))).toBe(false);
  });

  it('scans at once when nudged with the master key (EventGrid source served the same)', async () => {
    const { name, container, stateDir, out } = await watchedContainer('nudge');
    const h = await host(stateDir, name, 3_600_000, ['--setting', 'BLOB_SOURCE=EventGrid']);
    await container.getBlockBlobClient('m1/seq-1').upload('one', 3);
    const nudge = (key?: string) =>
      fetch(`${h.baseUrl}/admin/host/blob-written`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { 'x-functions-key': key } : {}) },
        body: JSON.stringify({ container: name, name: 'm1/seq-1' }),
      });
    expect((await nudge()).status).toBe(401);
    expect((await nudge('wrong')).status).toBe(401);
    const res = await nudge(masterKey);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ matched: 1 });
    const events = await waitFor(
      'a blob event',
      () => readEvents<BlobEvent>(out).length >= 1 && readEvents<BlobEvent>(out),
    );
    expect(events[0]).toMatchObject({ dir: 'm1', file: 'seq-1', sha: sha('one') });
    // a second nudge for the same version delivers nothing new
    await nudge(masterKey);
    await container.getBlockBlobClient('m1/seq-2').upload('two', 3);
    await nudge(masterKey).then(() =>
      fetch(`${h.baseUrl}/admin/host/blob-written`, {
        method: 'POST',
        headers: { 'x-functions-key': masterKey },
        body: JSON.stringify({ container: name, name: 'm1/seq-2' }),
      }),
    );
    const all = await waitFor(
      'two blob events',
      () => readEvents<BlobEvent>(out).length >= 2 && readEvents<BlobEvent>(out),
    );
    expect(all.map((e) => e.file)).toEqual(['seq-1', 'seq-2']);
  });

  it('poisons a blob whose function keeps failing', async () => {
    const conn = sharedStack().storageConnection;
    const { name, container, stateDir, out } = await watchedContainer('poison');
    await container.getBlockBlobClient('x/bad.bin').upload('fail', 4);
    await host(stateDir, name, 100);
    const queue = QueueServiceClient.fromConnectionString(conn).getQueueClient(
      'webjobs-blobtrigger-poison',
    );
    const msg = await waitFor(
      'the queue message',
      async () => {
        if (!(await queue.exists())) return undefined;
        const items = (await queue.receiveMessages({ numberOfMessages: 32 })).receivedMessageItems;
        return items
          .map(
            (m) =>
              JSON.parse(Buffer.from(m.messageText, 'base64').toString()) as {
                ContainerName: string;
                BlobName: string;
              },
          )
          .find((m) => m.ContainerName === name);
      },
      { intervalMs: 200 },
    );
    expect(msg.BlobName).toBe('x/bad.bin');
    expect(readEvents(out)).toHaveLength(5);
  });
});
