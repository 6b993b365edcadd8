import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../admin-cli/main';
import { printable, table } from '../../admin-cli/table';

/**
 * The CLI trusts the environment over a `.haven/local.env` of whatever directory it runs in (an
 * untrusted checkout must not receive a key from the environment at its own URL), and prints
 * what agents sent without letting terminal escapes through.
 */
function io(env: Record<string, string>, cwd: string) {
  const calls: { url: string; key: string | null }[] = [];
  const out: string[] = [];
  const fetchStub = (async (url: string | URL, init?: RequestInit) => {
    calls.push({ url: String(url), key: new Headers(init?.headers).get('x-functions-key') });
    return new Response(JSON.stringify({ items: [] }), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
  }) as typeof fetch;
  return {
    calls,
    out,
    io: {
      cwd,
      env,
      out: (s: string) => out.push(s),
      err: (s: string) => out.push(s),
      fetch: fetchStub,
    },
  };
}

describe('haven CLI trust', () => {
  it('uses URL and key from the environment, never an env file of the working directory', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'haven-cli-'));
    mkdirSync(join(cwd, '.haven'));
    writeFileSync(
      join(cwd, '.haven/local.env'),
      'HAVEN_API_URL=https://evil.example/api\nHAVEN_ADMIN_KEY=evil\n',
    );
    const t = io({ HAVEN_API_URL: 'http://127.0.0.1:7071/api', HAVEN_ADMIN_KEY: 'real-key' }, cwd);
    expect(await run(['sites', '--json'], t.io)).toBe(0);
    expect(t.calls.map((c) => c.url.startsWith('http://127.0.0.1:7071/api/'))).toEqual([true]);
    expect(t.calls[0]!.key).toBe('real-key');
    // Without the environment the file is used (the local stack's), key and URL together.
    const f = io({}, cwd);
    expect(await run(['sites', '--json'], f.io)).toBe(0);
    expect(f.calls[0]).toEqual({ url: 'https://evil.example/api/sites', key: 'evil' });
  });

  it('sends the key over https, or plain http to this host only', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'haven-cli-'));
    for (const api of ['http://haven.example.com/api', 'http://10.0.0.5:7071/api', 'not a url']) {
      const t = io({ HAVEN_API_URL: api, HAVEN_ADMIN_KEY: 'real-key' }, cwd);
      expect(await run(['sites', '--json'], t.io)).toBe(2);
      expect(t.calls).toEqual([]); // refused before anything is sent
      expect(t.out.join('\n')).toMatch(/API URL/);
    }
    for (const api of ['https://haven.example.com/api', 'http://localhost:7071/api']) {
      const t = io({ HAVEN_API_URL: api, HAVEN_ADMIN_KEY: 'real-key' }, cwd);
      expect(await run(['sites', '--json'], t.io)).toBe(0);
      expect(t.calls).toHaveLength(1);
    }
  });

  it('shows control characters from agents as \\xNN', () => {
    expect(printable('web\u001b]0;owned\u0007')).toBe('web\\x1b]0;owned\\x07');
    expect(table([{ hostname: 'a\u001b[2Jb' }], ['hostname'])).toContain('a\\x1b[2Jb');
  });
});
