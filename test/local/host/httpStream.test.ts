import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startHost, type RunningHost } from '../../../local/host/startHost';
import type { HostLogger } from '../../../local/host/plugin';

const quiet: HostLogger = { info: () => {}, warn: () => {}, error: () => {} };
const masterKey = 'stream-master-key-0123456789';
let host: RunningHost;

beforeAll(async () => {
  host = await startHost({
    entry: [join(__dirname, 'fixtures/streamApp.ts')],
    stateDir: mkdtempSync(join(tmpdir(), 'stream-')),
    masterKey,
    maxRequestBodyBytes: 8 * 1024 * 1024,
    log: quiet,
  });
});
afterAll(() => host?.stop());

describe('HTTP streaming mode (app.setup({ enableHttpStream: true }))', () => {
  it('streams a request body to the handler byte for byte', async () => {
    const body = randomBytes(5 * 1024 * 1024 + 17);
    const res = await fetch(`${host.baseUrl}/api/upload/disk0?x=1`, {
      method: 'POST',
      body,
      headers: { 'x-functions-key': masterKey },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      name: 'disk0',
      size: body.length,
      sha: createHash('sha256').update(body).digest('hex'),
    });
  });

  it('streams a large response body', async () => {
    const res = await fetch(`${host.baseUrl}/api/download/24`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-mib')).toBe('24');
    const buf = Buffer.from(await res.arrayBuffer());
    expect(buf.length).toBe(24 * 1024 * 1024);
    expect(buf[23 * 1024 * 1024]).toBe(23);
  });

  it('still checks keys, limits and failures', async () => {
    expect(
      (await fetch(`${host.baseUrl}/api/upload/a`, { method: 'POST', body: 'x' })).status,
    ).toBe(401);
    const big = await fetch(`${host.baseUrl}/api/upload/a`, {
      method: 'POST',
      body: randomBytes(9 * 1024 * 1024),
      headers: { 'x-functions-key': masterKey },
    });
    expect(big.status).toBe(413);
    const chunked = await fetch(`${host.baseUrl}/api/upload/a`, {
      method: 'POST',
      body: Readable.toWeb(
        Readable.from([randomBytes(5 * 1024 * 1024), randomBytes(5 * 1024 * 1024)]),
      ) as ReadableStream,
      duplex: 'half',
      headers: { 'x-functions-key': masterKey },
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect((await fetch(`${host.baseUrl}/api/stream-throws`)).status).toBe(500);
  });
});
