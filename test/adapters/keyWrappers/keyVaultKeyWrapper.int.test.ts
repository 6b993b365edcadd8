import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KeyVaultKeyWrapper } from '../../../adapters/keyvault/keyVaultKeyWrapper';
import { tokenCredentialOf } from '../../../adapters/identity/tokenCredential';
import {
  LOCAL_KEK_KEY_NAME,
  startLocalKeyVault,
  type LocalKeyVault,
} from '../../../local/keyvault/localKeyVault';
import { useLocalKeyVault } from '../../support/localKeyVault';
import { keyWrapperContract } from './contract';

const env = useLocalKeyVault();

/** The wrapper as app/root.ts builds it for the local vault (no in-memory unwrap cache here). */
const wrapperOf = (v: LocalKeyVault, token = v.token, keyName = LOCAL_KEK_KEY_NAME) =>
  new KeyVaultKeyWrapper({
    vaultUrl: v.url,
    keyName,
    credential: tokenCredentialOf({ credential: 'static-token', token }, 'token'),
    clientOptions: {
      tlsOptions: { ca: readFileSync(v.caCertPath, 'utf8') },
      disableChallengeResourceVerification: true,
      retryOptions: { maxRetries: 0 },
    },
    unwrappedTtlMs: 0,
  });

keyWrapperContract('KeyVaultKeyWrapper (local Key Vault)', async () => ({
  wrapper: wrapperOf(env.vault),
  rotate: async () => {
    env.vault.rotate(LOCAL_KEK_KEY_NAME);
    return wrapperOf(env.vault);
  },
}));

const aad = Buffer.from('haven-data-key|m1|k1');
const kind = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => `${(e as { kind?: string }).kind}:${(e as { retryable?: boolean }).retryable}`,
  );

describe('KeyVaultKeyWrapper over the local Key Vault', () => {
  it('names the vault key, records the version it wrapped with, and the vault keeps keys owner-only', async () => {
    const w = wrapperOf(env.vault);
    expect(w.kekId).toBe(`keyvault:127.0.0.1/${LOCAL_KEK_KEY_NAME}`);
    const wrapped = await w.wrap(randomBytes(32), aad);
    // Azure's vaultUri ends in '/': the same key, the same kekId.
    const slash = wrapperOf({ ...env.vault, url: `${env.vault.url}/` });
    expect(slash.kekId).toBe(w.kekId);
    expect((await slash.unwrap(wrapped, aad)).length).toBe(32);
    const version = wrapped.subarray(1, 1 + wrapped[0]!).toString('ascii');
    expect(version).toMatch(/^[0-9a-f]{32}$/);
    expect(wrapped.length).toBe(1 + 32 + 256); // RSA 2048 ciphertext
    const newer = env.vault.rotate(LOCAL_KEK_KEY_NAME);
    const after = await wrapperOf(env.vault).wrap(randomBytes(32), aad);
    expect(after.subarray(1, 1 + after[0]!).toString('ascii')).toBe(newer);
    expect(statSync(join(env.dir, 'keyvault', 'keys.json')).mode & 0o077).toBe(0);
  });

  it('survives a restart: the persisted key versions still unwrap', async () => {
    const key = randomBytes(32);
    const wrapped = await wrapperOf(env.vault).wrap(key, aad);
    const again = await startLocalKeyVault({ stateDir: env.dir });
    try {
      expect((await wrapperOf(again).unwrap(wrapped, aad)).equals(key)).toBe(true);
    } finally {
      await again.stop();
    }
  });

  it('maps the vault failures: throttling and 5xx retryable, refusal of the identity clear', async () => {
    const w = wrapperOf(env.vault);
    const wrapped = await w.wrap(randomBytes(32), aad);
    env.vault.failNext(429);
    expect(await kind(w.unwrap(wrapped, aad))).toBe('transient:true');
    env.vault.failNext(503, 1, 'ServiceUnavailable');
    expect(await kind(w.wrap(randomBytes(32), aad))).toBe('transient:true');
    // Wrap (enrollment) fails clearly and is not retried; unwrap (the data path) waits for the
    // fix instead of refusing batches.
    env.vault.failNext(403);
    const denied = await wrapperOf(env.vault)
      .wrap(randomBytes(32), aad)
      .catch((e: Error) => e);
    expect(denied).toMatchObject({ kind: 'internal', retryable: false });
    expect((denied as Error).message).toContain('Key Vault Crypto User');
    env.vault.failNext(403);
    expect(await kind(w.unwrap(wrapped, aad))).toBe('transient:true');
    expect(await kind(wrapperOf(env.vault, 'not-the-token').unwrap(wrapped, aad))).toBe(
      'transient:true',
    );
    // A key name the vault lacks is configuration too, never the batch's fault.
    const elsewhere = wrapperOf(env.vault, env.vault.token, 'no-such-key');
    expect(await kind(elsewhere.unwrap(wrapped, aad))).toBe('transient:true');
    expect(await kind(elsewhere.wrap(randomBytes(32), aad))).toBe('internal:false');
    expect((await w.unwrap(wrapped, aad)).length).toBe(32); // nothing stuck after the faults
  });
});
