import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHost, type RunningHost } from '../../../local/host/startHost';
import type { HostLogger } from '../../../local/host/plugin';

const masterKey = randomBytes(24).toString('base64url');
const fnKey = randomBytes(24).toString('base64url');
const lines: string[] = [];
const log: HostLogger = {
  info: (m, f) => lines.push(`info ${m} ${JSON.stringify(f ?? {})}`),
  warn: (m, f) => lines.push(`warn ${m} ${JSON.stringify(f ?? {})}`),
  error: (m, f) => lines.push(`error ${m} ${JSON.stringify(f ?? {})}`),
};
let host: RunningHost;
let api: string;

beforeAll(async () => {
  host = await startHost({
    entry: [join(__dirname, 'fixtures/httpApp.ts')],
    stateDir: mkdtempSync(join(tmpdir(), 'host-http-')),
    masterKey,
    functionKeys: { fnAuth: fnKey },
    maxRequestBodyBytes: 64 * 1024,
    log,
  });
  api = `${host.baseUrl}/api`;
});
afterAll(() => host?.stop());

describe('HTTP trigger', () => {
  it('routes with params, query and headers, and round-trips raw bytes', async () => {
    const body = randomBytes(5000);
    const res = await fetch(`${api}/echo/42?q=hello`, {
      method: 'POST',
      body,
      headers: { 'x-custom': 'yes', 'content-type': 'application/octet-stream' },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-id')).toBe('42');
    expect(res.headers.get('x-query')).toBe('hello');
    expect(res.headers.get('x-header')).toBe('yes');
    expect(res.headers.get('x-sha')).toBe(createHash('sha256').update(body).digest('hex'));
    expect(Buffer.from(await res.arrayBuffer()).equals(body)).toBe(true);
  });

  it('supports optional params, literals before params, catch-all and constraints', async () => {
    const get = async (p: string) => {
      const r = await fetch(`${api}${p}`);
      return { status: r.status, body: r.status === 200 ? await r.json() : await r.text() };
    };
    expect(await get('/items/7')).toEqual({ status: 200, body: { id: '7' } });
    expect(await get('/items')).toEqual({ status: 200, body: { id: null } });
    expect(await get('/items/special')).toEqual({ status: 200, body: { special: true } });
    expect((await get('/items/abc')).status).toBe(404);
    expect(await get('/files/a/b%20c/d.txt')).toEqual({
      status: 200,
      body: { rest: 'a/b c/d.txt' },
    });
    expect(await get('/codes/abc')).toEqual({ status: 200, body: { code: 'abc' } });
    expect((await get('/codes/abcd')).status).toBe(404);
    expect(await get('/DEFAULTROUTE')).toMatchObject({
      status: 200,
      body: { name: 'defaultRoute' },
    });
  });

  it('answers 404 for unknown routes and 405 with Allow for a wrong method', async () => {
    const nf = await fetch(`${api}/nope`);
    expect(nf.status).toBe(404);
    expect(nf.headers.get('content-type')).toBe('application/problem+json');
    expect((await fetch(`${host.baseUrl}/elsewhere`)).status).toBe(404);
    const na = await fetch(`${api}/echo/1`, { method: 'DELETE' });
    expect(na.status).toBe(405);
    expect(na.headers.get('allow')).toBe('POST, PUT');
  });

  it('enforces function and admin auth levels', async () => {
    const status = async (p: string, key?: string, header = true) =>
      (
        await fetch(`${api}${p}${key && !header ? `?code=${key}` : ''}`, {
          headers: key && header ? { 'x-functions-key': key } : {},
        })
      ).status;
    expect(await status('/secure/fn')).toBe(401);
    expect(await status('/secure/fn', 'wrong')).toBe(401);
    expect(await status('/secure/fn', fnKey)).toBe(200);
    expect(await status('/secure/fn', fnKey, false)).toBe(200);
    expect(await status('/secure/fn', masterKey)).toBe(200);
    expect(await status('/secure/admin', fnKey)).toBe(401);
    expect(await status('/secure/admin', masterKey, false)).toBe(200);
  });

  it('refuses bodies over the limit with 413', async () => {
    const res = await fetch(`${api}/echo/1`, { method: 'POST', body: randomBytes(65 * 1024) });
    expect(res.status).toBe(413);
    const ok = await fetch(`${api}/echo/1`, { method: 'POST', body: randomBytes(64 * 1024) });
    expect(ok.status).toBe(201);
  });

  it('answers every host-level refusal as problem+json with a stable type', async () => {
    const problem = async (res: Response, status: number, kind: string) => {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await res.json()).toMatchObject({
        type: `https://haven.dev/problems/${kind}`,
        status,
      });
    };
    await problem(await fetch(`${api}/secure/fn`), 401, 'unauthenticated');
    await problem(await fetch(`${host.baseUrl}/admin/functions`), 401, 'unauthenticated');
    await problem(await fetch(`${api}/nope`), 404, 'not-found');
    await problem(
      await fetch(`${api}/echo/1`, { method: 'POST', body: randomBytes(65 * 1024) }),
      413,
      'too-large',
    );
    // Chunked (no content-length): stopped at the limit all the same.
    const chunked = new ReadableStream<Uint8Array>({
      pull: (c) => c.enqueue(new Uint8Array(16 * 1024)),
    });
    await problem(
      await fetch(`${api}/echo/1`, {
        method: 'POST',
        body: chunked,
        duplex: 'half',
      } as RequestInit),
      413,
      'too-large',
    );
    const admin = (body: string | Uint8Array) =>
      fetch(`${host.baseUrl}/admin/functions/echo`, {
        method: 'POST',
        headers: { 'x-functions-key': masterKey },
        body,
      });
    await problem(await admin('{not json'), 400, 'validation');
    await problem(await admin(randomBytes(11 * 1024 * 1024)), 413, 'too-large');
  });

  it('sends a streamed response body in full', async () => {
    const res = await fetch(`${api}/stream/300`);
    expect(res.status).toBe(200);
    const buf = Buffer.from(await res.arrayBuffer());
    expect(buf.length).toBe(300 * 1024);
    expect(buf[299 * 1024]).toBe(299 % 256);
  });

  it('maps a throwing handler to 500 and logs it with the invocation id', async () => {
    const res = await fetch(`${api}/throws`);
    expect(res.status).toBe(500);
    const problem = (await res.json()) as { detail: string };
    const id = /invocation ([\w-]+)/.exec(problem.detail)![1]!;
    expect(lines.some((l) => l.startsWith('error') && l.includes('boom') && l.includes(id))).toBe(
      true,
    );
  });

  it('passes cookies and a trace context, and logs context.log with the invocation id', async () => {
    const res = await fetch(`${api}/cookies`);
    expect(res.headers.get('set-cookie')).toBe('a=b; Path=/; HttpOnly');
    const trace = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const r = await fetch(`${api}/defaultRoute`, { headers: { traceparent: trace } });
    const body = (await r.json()) as { trace: string };
    expect(body.trace).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[\da-f]{16}-01$/);
    await fetch(`${api}/echo/9`, { method: 'POST', body: 'x' });
    expect(lines.some((l) => l.includes('echo 9 1') && /"invocationId":"[\w-]{36}"/.test(l))).toBe(
      true,
    );
  });

  it('runs a second host of the same app in the same process, and each stops on its own', async () => {
    const second = await startHost({
      entry: [join(__dirname, 'fixtures/httpApp.ts')],
      stateDir: mkdtempSync(join(tmpdir(), 'host-http-')),
      masterKey,
      log,
    });
    const post = (base: string) =>
      fetch(`${base}/api/echo/2`, { method: 'POST', body: 'twice' }).then((r) => r.status);
    expect(await post(second.baseUrl)).toBe(201);
    expect(await post(host.baseUrl)).toBe(201);
    await second.stop();
    await expect(post(second.baseUrl)).rejects.toThrow();
    expect(await post(host.baseUrl)).toBe(201);
  });
});
