import { createHash, timingSafeEqual } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { isRestError } from '@azure/core-rest-pipeline';
import { CryptographyClient, KeyClient, type KeyClientOptions } from '@azure/keyvault-keys';
import type { KeyWrapper } from '../../core/controlPlane/machineKeys';
import { HavenError, integrity, transient } from '../../core/errors';
import { pemText, tokenCredentialOf, type CredentialSettings } from '../identity/tokenCredential';

const ALGORITHM = 'RSA-OAEP-256';
const DATA_KEY_BYTES = 32;
const VERSION = /^[0-9A-Za-z]{1,64}$/;

export interface KeyVaultKeyWrapperOptions {
  /** e.g. https://kv-haven-x.vault.azure.net (locally the stack's vault). */
  vaultUrl: string;
  keyName: string;
  credential: TokenCredential;
  /** TLS (the local vault's CA), retries, challenge verification (off for the local vault's host). */
  clientOptions?: KeyClientOptions;
  /** How long the current key version is used before asking the vault again (default 5 min). */
  currentVersionTtlMs?: number;
  /** How long an unwrapped data key is kept in memory (default 10 min; 0 = never). */
  unwrappedTtlMs?: number;
  clock?: () => number;
}

/**
 * Wraps data keys with a Key Vault RSA key (RSA-OAEP-256): the KEK never leaves the vault.
 * Key Vault's wrap has no associated data, so the plaintext is `dataKey ‖ sha256(aad)` and
 * unwrap refuses a result whose hash differs: a wrapped key moved to another machine or key id
 * does not open. The wrapped bytes record the key version used, `u8 length ‖ version ‖
 * ciphertext`, so a key rotated in the vault still unwraps what older versions wrapped.
 */
export class KeyVaultKeyWrapper implements KeyWrapper {
  readonly kekId: string;
  private readonly o: KeyVaultKeyWrapperOptions;
  private readonly keys: KeyClient;
  private readonly byVersion = new Map<string, CryptographyClient>();
  private current?: { version: string; at: number };
  /** Ingest opens every batch with its machine's key: one vault call per key per TTL, not per batch. */
  private readonly unwrapped = new Map<string, { key: Buffer; at: number }>();
  private readonly clock: () => number;

  constructor(options: KeyVaultKeyWrapperOptions) {
    // Azure's vaultUri ends in '/'; ids and paths are built without it.
    this.o = { ...options, vaultUrl: options.vaultUrl.replace(/\/+$/, '') };
    // The host, not the URL: the local vault's port may change between stack starts.
    this.kekId = `keyvault:${new URL(this.o.vaultUrl).hostname}/${this.o.keyName}`;
    this.keys = new KeyClient(this.o.vaultUrl, this.o.credential, this.o.clientOptions);
    this.clock = options.clock ?? Date.now;
  }

  async wrap(plain: Buffer, aad: Buffer): Promise<Buffer> {
    if (plain.length !== DATA_KEY_BYTES) throw new Error('Data keys are 32 bytes.');
    const version = await this.currentVersion();
    const r = await this.client(version)
      .wrapKey(ALGORITHM, Buffer.concat([plain, digest(aad)]))
      .catch((e: unknown) => this.fail(e, 'wrap', version));
    const v = Buffer.from(version, 'ascii');
    return Buffer.concat([Buffer.from([v.length]), v, Buffer.from(r.result)]);
  }

  async unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    const n = wrapped[0] ?? 0;
    const version = wrapped.subarray(1, 1 + n).toString('ascii');
    const ciphertext = wrapped.subarray(1 + n);
    if (!VERSION.test(version) || ciphertext.length === 0)
      throw integrity('Wrapped key is malformed (no Key Vault key version).');
    const memo = createHash('sha256').update(wrapped).update(aad).digest('hex');
    const hit = this.unwrapped.get(memo);
    const ttl = this.o.unwrappedTtlMs ?? 600_000;
    if (hit && this.clock() - hit.at < ttl) return Buffer.from(hit.key);
    const r = await this.client(version)
      .unwrapKey(ALGORITHM, ciphertext)
      .catch((e: unknown) => this.unwrapFailed(e, version));
    const out = Buffer.from(r.result);
    if (
      out.length !== DATA_KEY_BYTES + 32 ||
      !timingSafeEqual(out.subarray(DATA_KEY_BYTES), digest(aad))
    )
      throw integrity('Data key is bound to another machine or key id (or was tampered with).');
    const key = out.subarray(0, DATA_KEY_BYTES);
    if (ttl > 0) {
      if (this.unwrapped.size >= 1024) this.unwrapped.clear(); // bounded; refilled on demand
      this.unwrapped.set(memo, { key: Buffer.from(key), at: this.clock() });
    }
    return key;
  }

  private async currentVersion(): Promise<string> {
    const ttl = this.o.currentVersionTtlMs ?? 300_000;
    if (this.current && this.clock() - this.current.at < ttl) return this.current.version;
    const key = await this.keys.getKey(this.o.keyName).catch((e: unknown) => this.fail(e, 'wrap'));
    const version = key.properties.version ?? '';
    if (!VERSION.test(version))
      throw new HavenError('internal', `Key Vault key '${this.o.keyName}' has no usable version.`);
    this.current = { version, at: this.clock() };
    return version;
  }

  /** A version the vault's key does not have is the wrapped bytes' fault, unless the key itself is gone. */
  private async unwrapFailed(e: unknown, version: string): Promise<never> {
    if (isRestError(e) && e.statusCode === 404) {
      const keyExists = await this.keys.getKey(this.o.keyName).then(
        () => true,
        () => false,
      );
      if (keyExists)
        throw integrity(
          `The wrapped data key names version ${version} of Key Vault key '${this.o.keyName}', which it does not have.`,
        );
    }
    return this.fail(e, 'unwrap', version);
  }

  private client(version: string): CryptographyClient {
    let c = this.byVersion.get(version);
    if (!c) {
      const id = `${this.o.vaultUrl}/keys/${this.o.keyName}/${version}`;
      c = new CryptographyClient(id, this.o.credential, this.o.clientOptions);
      this.byVersion.set(version, c);
    }
    return c;
  }

  /**
   * Key Vault's failures as Haven's kinds. Unwrap runs on the data path, where a non-retryable
   * error rejects the batch and stops the disk: there a vault that refuses the app (403, 404:
   * configuration) is `transient`, so batches wait for the fix instead of being refused.
   * Wrap (enrollment, key rotation) loses nothing by failing: there it is a clear `internal`.
   */
  private fail(e: unknown, op: 'wrap' | 'unwrap', version?: string): never {
    if (e instanceof HavenError) throw e;
    const status = isRestError(e) ? e.statusCode : undefined;
    const code = isRestError(e) ? (e.code ?? '') : '';
    const key = `'${this.o.keyName}'${version ? ` version ${version}` : ''} in ${this.o.vaultUrl}`;
    if (op === 'unwrap' && status === 400)
      throw integrity(
        `Key Vault could not unwrap the data key with key ${key} (wrong key or tampered).`,
      );
    if (status === 401 || status === 403 || status === 404) {
      const msg =
        status === 404
          ? `Key Vault has no key ${key} (${code || status}): check HAVEN_KEYVAULT_URL and HAVEN_KEK_KEY_NAME.`
          : `Key Vault refused the app's identity on key ${key} (${status} ${code}): it needs the Key Vault Crypto User role on the vault.`;
      if (op === 'unwrap') throw transient(msg, e);
      throw new HavenError('internal', msg, undefined, { cause: e });
    }
    if (status === undefined || status === 408 || status === 429 || status >= 500)
      throw transient(
        `Key Vault is unavailable or throttling (${status ?? (e as Error)?.message ?? e}); retry.`,
        e,
      );
    throw new HavenError('internal', `Key Vault ${op} failed (${status} ${code}).`, undefined, {
      cause: e,
    });
  }
}

/** The app's Key Vault settings (HAVEN_KEYVAULT_*, HAVEN_KEK_KEY_NAME). */
export interface KeyVaultSettings extends CredentialSettings {
  url: string;
  keyName: string;
  /** PEM text or a path: the only CA trusted for the vault (the local stack's). */
  caCert?: string;
}

export function createKeyVaultKeyWrapper(s: KeyVaultSettings): KeyVaultKeyWrapper {
  const ca = pemText(s.caCert);
  return new KeyVaultKeyWrapper({
    vaultUrl: s.url,
    keyName: s.keyName,
    credential: tokenCredentialOf(s, 'HAVEN_KEYVAULT_TOKEN'),
    clientOptions: {
      ...(ca ? { tlsOptions: { ca } } : {}),
      // The SDK sends a token only to hosts under the challenge's resource (*.vault.azure.net).
      // The local vault's host is 127.0.0.1; a static token is only ever the local vault's, so
      // there is no real credential for the check to protect.
      ...(s.credential === 'static-token' ? { disableChallengeResourceVerification: true } : {}),
    },
  });
}

const digest = (aad: Buffer) => createHash('sha256').update(aad).digest();
