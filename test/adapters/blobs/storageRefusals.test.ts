import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AzureBlobStore } from '../../../adapters/blobs/azureBlobStore';

/**
 * The store's "already there" and "held by another" answers against a storage peer that
 * answers every request with one status and error code: only the codes that mean it may say
 * so. A write refused for any other reason (here Azurite's full in-memory store, which
 * answers 409 too) is an error: taken for "exists", ingest counted a batch as staged that no
 * blob held, its point as durable, and hydrate waited at the gap for good.
 */

let server: Server | undefined;

afterEach(async () => {
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

async function storeAnswering(status: number, code: string): Promise<AzureBlobStore> {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      res
        .writeHead(status, { 'x-ms-error-code': code, 'content-type': 'application/xml' })
        .end(`<?xml version="1.0"?><Error><Code>${code}</Code><Message>m</Message></Error>`),
    );
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return new AzureBlobStore(
    `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1`,
  );
}

const bytes = Buffer.alloc(512, 1);

describe('AzureBlobStore: refusals are not answers', () => {
  it('a full in-memory emulator refuses writes: an error to retry, not "exists" or "busy"', async () => {
    const s = await storeAnswering(409, 'MemoryExtentStoreAtSizeLimit');
    const transient = { kind: 'transient', retryable: true };
    await expect(s.putBlockBlobIfAbsent('staging', 'b', bytes)).rejects.toMatchObject(transient);
    await expect(s.createPageBlob('replicas', 'r', 4096)).rejects.toMatchObject(transient);
    await expect(s.acquireLease('replicas', 'r', 60)).rejects.toMatchObject(transient);
    await expect(s.uploadPages('replicas', 'r', 0, bytes)).rejects.toMatchObject(transient);
  });

  it('another 409 on a create-if-absent or a lease is a conflict, not "exists" or "busy"', async () => {
    const s = await storeAnswering(409, 'ContainerBeingDeleted');
    const conflict = { kind: 'conflict', retryable: false };
    await expect(s.putBlockBlobIfAbsent('staging', 'b', bytes)).rejects.toMatchObject(conflict);
    await expect(s.createPageBlob('replicas', 'r', 4096)).rejects.toMatchObject(conflict);
    await expect(s.acquireLease('replicas', 'r', 60)).rejects.toMatchObject(conflict);
    await expect(
      s.copyBlockBlobIfAbsent({ container: 'in', name: 'x', etag: '"e"' }, 'batches', 'y'),
    ).rejects.toMatchObject(conflict);
  });

  it('the blob already there is "exists"; a lease held or breaking is "busy"', async () => {
    let s = await storeAnswering(409, 'BlobAlreadyExists');
    await expect(s.putBlockBlobIfAbsent('staging', 'b', bytes)).resolves.toBe('exists');
    await expect(s.createPageBlob('replicas', 'r', 4096)).resolves.toBe('exists');
    await expect(
      s.copyBlockBlobIfAbsent({ container: 'in', name: 'x', etag: '"e"' }, 'batches', 'y'),
    ).resolves.toBe('exists');
    server!.close();
    s = await storeAnswering(412, 'ConditionNotMet');
    await expect(s.putBlockBlobIfAbsent('staging', 'b', bytes)).resolves.toBe('exists');
    for (const code of ['LeaseAlreadyPresent', 'LeaseIsBreakingAndCannotBeAcquired']) {
      server!.close();
      s = await storeAnswering(409, code);
      await expect(s.acquireLease('replicas', 'r', 60)).resolves.toBeUndefined();
    }
  });
});
