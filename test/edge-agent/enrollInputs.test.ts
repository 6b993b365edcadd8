import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkApiUrl, readEnrollToken } from '../../edge-agent/enrollInputs';

describe('enrollment inputs', () => {
  it('accepts https anywhere and plain http to this host only', () => {
    for (const ok of [
      'https://haven.example.com/api',
      'http://127.0.0.1:7071/api',
      'http://127.8.0.1/',
      'http://localhost:7071',
      'http://[::1]:7071/api',
    ])
      expect(checkApiUrl(ok)).toBe(ok);
    for (const bad of [
      'http://haven.example.com/api',
      'http://10.0.0.1:7071',
      'http://localhost.example.com',
      'http://128.0.0.1',
      'ftp://127.0.0.1',
      'not a url',
    ])
      expect(() => checkApiUrl(bad)).toThrow(/--api/);
  });

  it('reads the token from a file or stdin, trimmed; one source only', async () => {
    const dir = await fsp.mkdtemp(path.join(tmpdir(), 'enroll-'));
    const file = path.join(dir, 'token');
    await fsp.writeFile(file, 'hvt.t1.secret\n', { mode: 0o600 });
    expect(await readEnrollToken({ tokenFile: file })).toBe('hvt.t1.secret');
    expect(await readEnrollToken({ token: '-' }, async () => ' hvt.t2.s \n')).toBe('hvt.t2.s');
    expect(await readEnrollToken({ token: 'hvt.t3.s' })).toBe('hvt.t3.s');
    await expect(readEnrollToken({ token: 'a', tokenFile: file })).rejects.toThrow(/not both/);
    await expect(readEnrollToken({})).rejects.toThrow(/--token-file/);
    await expect(readEnrollToken({ token: '-' }, async () => '\n')).rejects.toThrow(/empty/);
    await expect(readEnrollToken({ tokenFile: dir })).rejects.toThrow(/not a file/);
    await fsp.rm(dir, { recursive: true });
  });
});
