import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AzureBlobStore } from '../../../adapters/blobs/azureBlobStore';
import { answerBoundMs, blobServiceOf } from '../../../adapters/blobs/storageAccess';
import { mapStorageError } from '../../../adapters/blobs/storageErrors';

/**
 * Each try of a storage call is bounded by its answer: the SDK's `tryTimeoutInMs` is only sent
 * to the service, so a dead connection (the peer never answers) held a call, and the replica
 * lease or partition behind it, until the host's function timeout. A download's body is
 * bounded by how long it sends nothing: one that stopped half-way held the read as long.
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

/** The body a peer stops sending for: given up after this, never for being slow. */
const IDLE = 1000;
const BODY = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => i % 251));

/** How the peer answers one download: `from`-`to` of BODY, headers already sent. */
type BodyAnswer = (res: ServerResponse, from: number, to: number) => void;
const whole: BodyAnswer = (res, from, to) => res.end(BODY.subarray(from, to + 1));
/** `n` bytes of the body, then nothing on a connection kept open. */
const stopAfter =
  (n: number): BodyAnswer =>
  (res, from) =>
    res.write(BODY.subarray(from, from + n));
/** `n` bytes of the body, then the connection reset. */
const resetAfter =
  (n: number): BodyAnswer =>
  (res, from) =>
    res.write(BODY.subarray(from, from + n), () => setTimeout(() => res.socket?.destroy(), 20));
/** `pieces` pieces of `size` bytes, one every `everyMs`, then nothing. */
const trickle =
  (pieces: number, size: number, everyMs: number): BodyAnswer =>
  (res, from) => {
    let i = 0;
    const t = setInterval(() => {
      res.write(BODY.subarray(from + i * size, from + (i + 1) * size));
      if (++i === pieces) clearInterval(t);
    }, everyMs);
    res.on('close', () => clearInterval(t));
  };

/**
 * A blob of BODY's bytes whose n-th download is answered by `answers[n]` (the last one from
 * then on); a store on it with short bounds. Records the range and If-Match of each download.
 */
async function blobPeer(answers: BodyAnswer[]) {
  const asked: { range?: string; ifMatch?: string }[] = [];
  const server = createHttpServer((req, res) => {
    sockets.push(req.socket);
    req.resume();
    const range = req.headers['x-ms-range'] as string | undefined;
    asked.push({ range, ifMatch: req.headers['if-match'] });
    // A range past the blob's end is answered up to its end, as the service does.
    const [from, last] = range ? range.slice(6).split('-').map(Number) : [0, BODY.length - 1];
    const to = Math.min(last!, BODY.length - 1);
    res.writeHead(range ? 206 : 200, {
      'content-length': String(to - from! + 1),
      ...(range ? { 'content-range': `bytes ${from}-${to}/${BODY.length}` } : {}),
      'x-ms-blob-type': 'BlockBlob',
      etag: '"e"',
    });
    res.flushHeaders();
    answers[Math.min(asked.length, answers.length) - 1]!(res, from!, to);
  });
  let connections = 0;
  server.on('connection', () => connections++);
  const port = await listening(server);
  const store = new AzureBlobStore(connectionTo(port), Date.now, {
    retries,
    bodyIdleMs: IDLE,
  });
  return { store, asked, connections: () => connections };
}

const reads: [string, (s: AzureBlobStore) => Promise<Buffer>][] = [
  ['readRange (downloadToBuffer)', (s) => s.readRange('replicas', 'r', 0, BODY.length)],
  ['readBlob (download)', async (s) => (await s.readBlob('claims', 'c'))!.data],
  ['readHead (download of a range)', async (s) => (await s.readHead('claims', 'c', 1 << 20))!.data],
];

describe('storage downloads: a body that sends nothing for its idle bound is given up', () => {
  it.each(reads)(
    '%s: headers and part of the body, then nothing: the rest asked for again on another connection, the blob arrives whole',
    async (_, read) => {
      const { store, asked, connections } = await blobPeer([stopAfter(BODY.length / 4), whole]);
      const started = Date.now();
      const got = await read(store);
      const took = Date.now() - started;
      expect(got.equals(BODY)).toBe(true);
      // From the byte it stopped at, and only if the blob is still the one begun.
      expect(asked[1]).toEqual({
        range: `bytes=${BODY.length / 4}-${BODY.length - 1}`,
        ifMatch: '"e"',
      });
      expect(asked).toHaveLength(2);
      expect(connections()).toBe(2);
      expect(took).toBeGreaterThanOrEqual(IDLE - 50);
      expect(took).toBeLessThan(IDLE + 3000);
    },
    15_000,
  );

  it.each(reads)(
    '%s: a connection reset mid-body: the rest asked for again at once (it failed the read before)',
    async (_, read) => {
      const { store, asked } = await blobPeer([resetAfter(BODY.length / 4), whole]);
      const started = Date.now();
      expect((await read(store)).equals(BODY)).toBe(true);
      expect(asked[1]!.range).toBe(`bytes=${BODY.length / 4}-${BODY.length - 1}`);
      expect(Date.now() - started).toBeLessThan(IDLE);
    },
    15_000,
  );

  it.each(reads)(
    '%s: a body that stops every time: a transient error once the retries are spent',
    async (_, read) => {
      const { store, asked } = await blobPeer([stopAfter(1024)]);
      const started = Date.now();
      const err = await read(store).catch((e: unknown) => e);
      const took = Date.now() - started;
      expect(err).toMatchObject({ kind: 'transient', retryable: true });
      expect(asked).toHaveLength(retries.maxTries); // the body asked for as many times as a try
      expect(took).toBeGreaterThanOrEqual(retries.maxTries * IDLE - 100);
      expect(took).toBeLessThan(retries.maxTries * IDLE + 3000);
    },
    15_000,
  );

  it.each(reads)(
    '%s: a body trickled slower than the bound in all but never idle for it is not cut; the stop after it is',
    async (_, read) => {
      // 6 pieces 0.4 bounds apart: 2.4 bounds in all, then nothing.
      const pieces = 6;
      const size = 4096;
      const { store, asked } = await blobPeer([trickle(pieces, size, IDLE * 0.4), whole]);
      const started = Date.now();
      const got = await read(store);
      const took = Date.now() - started;
      expect(got.equals(BODY)).toBe(true);
      // Asked again only from the last piece: nothing of the trickle was given up.
      expect(asked).toHaveLength(2);
      expect(asked[1]!.range).toBe(`bytes=${pieces * size}-${BODY.length - 1}`);
      expect(took).toBeGreaterThanOrEqual(pieces * IDLE * 0.4 + IDLE - 100);
    },
    15_000,
  );
});
