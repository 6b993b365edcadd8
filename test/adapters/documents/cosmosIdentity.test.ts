import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosmosClientOptions } from '../../../adapters/documents/cosmosClientOptions';
import { CosmosDocumentStore } from '../../../adapters/documents/cosmosDocumentStore';
import { loadOrCreateTls } from '../../../local/arm/tls';

// The local Cosmos stand-in does not check authorization at all, so what the client sends is
// checked here: an HTTPS server (the SDK sends bearer tokens over TLS only) that records each
// request's Authorization header and refuses it.
let server: Server;
let endpoint: string;
let dir: string;
let caCert: string;
const seen: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cosmos-aad-'));
  const tls = loadOrCreateTls(dir);
  caCert = readFileSync(tls.caCertPath, 'utf8');
  server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    seen.push(decodeURIComponent(req.headers.authorization ?? ''));
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'Unauthorized', message: 'recorded' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const firstAuthOf = async (store: CosmosDocumentStore) => {
  seen.length = 0;
  await store.ping().catch((e) => console.log('DBG', e?.message, e?.cause?.message));
  expect(seen.length).toBeGreaterThan(0);
  return seen;
};

describe('Cosmos DB by identity', () => {
  it('sends the Entra token and never a key when a credential is configured', async () => {
    const auth = await firstAuthOf(
      new CosmosDocumentStore({
        endpoint,
        database: 'haven',
        credential: 'static-token',
        token: 'entra-token-value',
        caCert,
      }),
    );
    for (const a of auth) {
      expect(a).toMatch(/^type=aad&ver=1\.0&sig=entra-token-value$/);
      expect(a).not.toMatch(/type=master/);
    }
  });

  it('builds its client with the key otherwise (and no token credential)', () => {
    const key = Buffer.alloc(64).toString('base64');
    const opts = cosmosClientOptions({ endpoint, database: 'haven', key });
    expect(opts.key).toBe(key);
    expect(opts.aadCredentials).toBeUndefined();
  });
});
