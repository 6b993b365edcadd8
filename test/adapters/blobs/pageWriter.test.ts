import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RestError } from '@azure/storage-blob';
import { afterEach, describe, expect, it } from 'vitest';
import { AzureBlobStore } from '../../../adapters/blobs/azureBlobStore';
import { PageWriter, PAGE_WRITE_VERSION } from '../../../adapters/blobs/pageWriter';
import { callStorage } from '../../../adapters/blobs/storageErrors';

// The writer's own behaviour against a scripted HTTP server: what it sends, what it tries
// again, what it gives up on. That Azure's (Azurite's) checks accept its requests, shared key
// and bearer token alike, is the blob store contract's part (test/adapters/blobs/*.int.test.ts).

interface Seen {
  method?: string;
  url?: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

type Answer = (res: ServerResponse, req: IncomingMessage) => void;

let server: Server | undefined;
let writer: PageWriter | undefined;

afterEach(async () => {
  writer?.close();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = writer = undefined;
});

/** A server answering its n-th request with `answers[n]` (the last one from then on). */
async function scripted(answers: Answer[]): Promise<{ url: URL; seen: Seen[] }> {
  const seen: Seen[] = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks),
      });
      answers[Math.min(seen.length, answers.length) - 1]!(res, req);
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: new URL(`http://127.0.0.1:${port}/acct/replicas/m1%2Fd0.vhd`), seen };
}

const created: Answer = (res) => res.writeHead(201).end();
const status =
  (code: number, errorCode?: string, body = ''): Answer =>
  (res) =>
    res.writeHead(code, errorCode ? { 'x-ms-error-code': errorCode } : {}).end(body);

const retries = { maxTries: 3, retryDelayInMs: 5, maxRetryDelayInMs: 20, tryTimeoutInMs: 2000 };
const sharedKey = (signed: string[]) =>
  new PageWriter(
    { kind: 'shared-key', account: 'acct', sign: (s) => (signed.push(s), 'c2ln') },
    retries,
    false,
  );

describe('PageWriter', () => {
  it('sends one Put Page: range, lease, version, and the shared-key string of the SDK', async () => {
    const { url, seen } = await scripted([created]);
    const signed: string[] = [];
    writer = sharedKey(signed);
    const body = Buffer.alloc(8192, 3);
    await writer.put(url, 4096, body, 'lease-1');
    expect(seen).toHaveLength(1);
    const [req] = seen;
    expect(req!.method).toBe('PUT');
    expect(req!.url).toBe('/acct/replicas/m1%2Fd0.vhd?comp=page');
    expect(req!.body.equals(body)).toBe(true);
    expect(req!.headers).toMatchObject({
      'x-ms-range': 'bytes=4096-12287',
      'x-ms-page-write': 'update',
      'x-ms-lease-id': 'lease-1',
      'x-ms-version': PAGE_WRITE_VERSION,
      authorization: 'SharedKey acct:c2ln',
    });
    const h = req!.headers;
    expect(signed).toEqual([
      `PUT\n\n\n8192\n\n\n\n\n\n\n\n\n` +
        `x-ms-client-request-id:${h['x-ms-client-request-id']}\nx-ms-date:${h['x-ms-date']}\n` +
        `x-ms-lease-id:lease-1\nx-ms-page-write:update\nx-ms-range:bytes=4096-12287\n` +
        `x-ms-version:${PAGE_WRITE_VERSION}\n/acct/acct/replicas/m1%2Fd0.vhd\ncomp:page`,
    ]);
  });

  it('sends the bearer token of its identity, and no lease header without a lease', async () => {
    const { url, seen } = await scripted([created]);
    writer = new PageWriter({ kind: 'bearer', token: async () => 'tok' }, retries, false);
    await writer.put(url, 0, Buffer.alloc(512));
    expect(seen[0]!.headers.authorization).toBe('Bearer tok');
    expect(seen[0]!.headers['x-ms-lease-id']).toBeUndefined();
  });

  it('tries a busy or failing service again with the same bytes, and stops at its first 201', async () => {
    const { url, seen } = await scripted([status(503, 'ServerBusy'), status(500), created]);
    writer = sharedKey([]);
    const body = Buffer.alloc(1024, 9);
    await writer.put(url, 0, body);
    expect(seen).toHaveLength(3);
    for (const s of seen) expect(s.body.equals(body)).toBe(true);
  });

  it('gives up after its tries: a transient error for the caller', async () => {
    const { url, seen } = await scripted([status(503, 'ServerBusy')]);
    writer = sharedKey([]);
    const err = await callStorage(() => writer!.put(url, 0, Buffer.alloc(512))).catch((e) => e);
    expect(seen).toHaveLength(3);
    expect(err).toMatchObject({ kind: 'transient' });
  });

  it('does not try a refusal again; the status and service code reach the caller', async () => {
    const { url, seen } = await scripted([status(412, 'LeaseIdMismatchWithBlobOperation')]);
    writer = sharedKey([]);
    const raw = await writer.put(url, 0, Buffer.alloc(512), 'other').catch((e) => e);
    expect(seen).toHaveLength(1);
    expect(raw).toBeInstanceOf(RestError);
    expect(raw).toMatchObject({ statusCode: 412, code: 'LeaseIdMismatchWithBlobOperation' });
    const mapped = await callStorage(() => writer!.put(url, 0, Buffer.alloc(512))).catch((e) => e);
    expect(mapped).toMatchObject({ kind: 'conflict', details: { status: 412 } });
  });

  it('reads the service code from the error body when the header is missing', async () => {
    const xml = '<?xml version="1.0"?><Error><Code>InvalidPageRange</Code></Error>';
    const { url } = await scripted([status(416, undefined, xml)]);
    writer = sharedKey([]);
    const err = await writer.put(url, 0, Buffer.alloc(512)).catch((e) => e);
    expect(err).toMatchObject({ statusCode: 416, code: 'InvalidPageRange' });
  });

  it('tries again when the connection drops before an answer', async () => {
    const { url, seen } = await scripted([(_res, req) => req.socket.destroy(), created]);
    writer = sharedKey([]);
    await writer.put(url, 0, Buffer.alloc(512));
    expect(seen).toHaveLength(2);
  });

  it('abandons a try that gets no answer in time, and tries again', async () => {
    const { url, seen } = await scripted([() => undefined, created]);
    writer = new PageWriter(
      { kind: 'shared-key', account: 'acct', sign: () => 'x' },
      { ...retries, tryTimeoutInMs: 200 },
      false,
    );
    await writer.put(url, 0, Buffer.alloc(512));
    expect(seen).toHaveLength(2);
  });

  it('is refused a storage connection that holds a SAS instead of a key', () => {
    const sas = 'BlobEndpoint=http://127.0.0.1:1/acct;SharedAccessSignature=sv=2025-07-05&sig=x';
    expect(() => new AzureBlobStore(sas)).toThrow(/account key or an identity, not a SAS/);
  });
});
