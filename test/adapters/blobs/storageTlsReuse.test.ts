import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { blobServiceOf } from '../../../adapters/blobs/storageAccess';
import { loadOrCreateTls } from '../../../local/arm/tls';
import { entraToken } from '../../support/entraToken';

// A storage endpoint reached by identity over HTTPS with its own CA (a local one): the client
// trusts that CA alone. Its requests must share a keep-alive pool, as without a CA: the HTTP
// client keeps one pool per TLS settings object, so a new object per request meant a new TLS
// handshake per request.
let server: Server;
let dir: string;
let caCert: string;
let handshakes = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'storage-tls-'));
  const tls = loadOrCreateTls(dir);
  caCert = readFileSync(tls.caCertPath, 'utf8');
  server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    req.resume();
    res.writeHead(200, {
      'x-ms-blob-type': 'BlockBlob',
      'content-length': '0',
      etag: '"0x1"',
      'x-ms-version': '2025-07-05',
    });
    res.end();
  });
  server.on('secureConnection', () => handshakes++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

it('requests to an endpoint with its own CA reuse one TLS connection', async () => {
  const { port } = server.address() as AddressInfo;
  const service = blobServiceOf(
    {
      accountUrl: `https://127.0.0.1:${port}/acct`,
      credential: 'static-token',
      token: entraToken(),
      caCert,
    },
    { retryOptions: { maxTries: 1, tryTimeoutInMs: 10_000 } },
  );
  const blob = service.getContainerClient('c').getBlobClient('b');
  for (let i = 0; i < 8; i++) await blob.getProperties();
  // The first socket may not be back in the pool when the second request leaves (one more
  // handshake); from then on the pool serves them all. A handshake each was 8.
  expect(handshakes).toBeLessThanOrEqual(2);
});
