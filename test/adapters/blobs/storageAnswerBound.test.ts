import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { answerBoundMs, blobServiceOf } from '../../../adapters/blobs/storageAccess';
import { mapStorageError } from '../../../adapters/blobs/storageErrors';

/**
 * Each try of a storage call is bounded by its answer: the SDK's `tryTimeoutInMs` is only sent
 * to the service, so a dead connection (the peer never answers) held a call, and the replica
 * lease or partition behind it, until the host's function timeout.
 */

const KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const connectionTo = (port: number) =>
  `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${KEY};BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1`;
const retries = { maxTries: 2, tryTimeoutInMs: 500, retryDelayInMs: 10, maxRetryDelayInMs: 10 };

let servers: (Server | HttpServer)[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
});

async function listening(s: Server | HttpServer): Promise<number> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}

describe('storage calls: each try bounded by its answer', () => {
  it('a peer that takes the request and never answers: given up, tried again on a new connection, then a transient error', async () => {
    let connections = 0;
    const port = await listening(
      createServer((s) => {
        connections++;
        sockets.push(s);
        s.resume(); // reads the request, never writes a byte
      }),
    );
    const blob = blobServiceOf(connectionTo(port), { retryOptions: retries })
      .getContainerClient('staging')
      .getBlockBlobClient('b');
    const started = Date.now();
    const err = await blob.upload(Buffer.alloc(512), 512).catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(err).toMatchObject({ code: 'ETIMEDOUT' });
    expect(mapStorageError(err)).toMatchObject({ kind: 'transient', retryable: true });
    expect(connections).toBe(2); // both tries, each on its own connection
    const bound = answerBoundMs(retries.tryTimeoutInMs);
    expect(took).toBeGreaterThanOrEqual(2 * bound - 100);
    expect(took).toBeLessThan(2 * bound + 3000);
  });

  it('a download whose body takes longer than the bound is not cut: only the answer is bounded', async () => {
    const body = Buffer.alloc(64 * 1024, 7);
    const port = await listening(
      createHttpServer((req, res) => {
        req.resume();
        res.writeHead(200, {
          'content-length': String(body.length),
          'x-ms-blob-type': 'BlockBlob',
          etag: '"e"',
        });
        if (req.method === 'HEAD') return res.end(); // downloadToBuffer asks for the size first
        res.flushHeaders();
        // Headers at once, then the body in 4 pieces over ~3 answer bounds.
        let i = 0;
        const step = body.length / 4;
        const t = setInterval(
          () => {
            res.write(body.subarray(i * step, (i + 1) * step));
            if (++i === 4) {
              clearInterval(t);
              res.end();
            }
          },
          answerBoundMs(retries.tryTimeoutInMs) * 0.75,
        );
      }),
    );
    const blob = blobServiceOf(connectionTo(port), { retryOptions: retries })
      .getContainerClient('replicas')
      .getBlobClient('r');
    const got = await blob.downloadToBuffer();
    expect(got.equals(body)).toBe(true);
  });
});
