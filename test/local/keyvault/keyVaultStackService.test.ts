import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../app/config';
import { createKeyVaultKeyWrapper } from '../../../adapters/keyvault/keyVaultKeyWrapper';
import { keyVaultService } from '../../../local/keyvault/keyVaultStackService';
import type { StackServiceContext } from '../../../local/stack/stackService';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const ctxOf = (stateDir: string, persistent: boolean): StackServiceContext => ({
  stateDir,
  persistent,
  settings: {},
  hostBaseUrl: 'http://127.0.0.1:1',
  log: { info: () => {}, warn: () => {}, error: () => {} },
});

/** The wrapper the app builds from the settings the service hands it. */
const wrapperFrom = (settings: Record<string, string>) =>
  createKeyVaultKeyWrapper(
    loadConfig({
      HAVEN_STORAGE_CONNECTION: 'UseDevelopmentStorage=true',
      HAVEN_COSMOS_ENDPOINT: 'https://127.0.0.1:8081',
      ...settings,
    }).keyVault!,
  );

function rotateOverHttp(
  s: Record<string, string>,
  name: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${s.HAVEN_KEYVAULT_URL}/haven/admin/keys/${name}/rotate?api-version=2025-07-01`,
      {
        method: 'POST',
        ca: readFileSync(s.HAVEN_KEYVAULT_CA_CERT!),
        headers: { authorization: `Bearer ${s.HAVEN_KEYVAULT_TOKEN}` },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the local stack Key Vault service', () => {
  it('hands the app its vault; keys, token and port survive a restart; the token stays out of local.env', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'haven-kvs-'));
    dirs.push(stateDir);
    const first = await keyVaultService.start(ctxOf(stateDir, true));
    const s1 = first.settings!;
    expect(first.private).toEqual(['HAVEN_KEYVAULT_TOKEN']);
    expect(s1).toMatchObject({
      HAVEN_KEK_KEY_NAME: 'haven-kek-wrap',
      HAVEN_KEYVAULT_CREDENTIAL: 'static-token',
    });
    const aad = Buffer.from('haven-data-key|m|k');
    const key = randomBytes(32);
    const wrapped = await wrapperFrom(s1).wrap(key, aad);
    await first.stop!();
    expect(statSync(join(stateDir, 'keyvault')).mode & 0o077).toBe(0);

    const second = await keyVaultService.start(ctxOf(stateDir, true));
    try {
      // Token and CA kept; the port too unless another process took it meanwhile.
      const { HAVEN_KEYVAULT_URL: url, ...rest } = second.settings!;
      const { HAVEN_KEYVAULT_URL: _firstUrl, ...firstRest } = s1;
      expect(rest).toEqual(firstRest);
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect((await wrapperFrom(second.settings!).unwrap(wrapped, aad)).equals(key)).toBe(true);
      // A test driving a stack in another process rotates the key over HTTP (bearer token).
      const s2 = second.settings!;
      const rotated = await rotateOverHttp(s2, 'haven-kek-wrap');
      expect(rotated.status).toBe(200);
      const kid = (JSON.parse(rotated.body) as { key: { kid: string } }).key.kid;
      const after = await wrapperFrom(s2).wrap(key, aad);
      expect(kid.endsWith(`/${after.subarray(1, 1 + after[0]!).toString('ascii')}`)).toBe(true);
      expect(
        (await rotateOverHttp({ ...s2, HAVEN_KEYVAULT_TOKEN: 'x' }, 'haven-kek-wrap')).status,
      ).toBe(401);
    } finally {
      await second.stop!();
    }
  });

  it('an in-memory stack keeps nothing', async () => {
    const started = await keyVaultService.start(ctxOf('/nonexistent', false));
    const ca = started.settings!.HAVEN_KEYVAULT_CA_CERT!;
    expect(existsSync(ca)).toBe(true);
    await started.stop!();
    expect(existsSync(ca)).toBe(false);
  });
});
