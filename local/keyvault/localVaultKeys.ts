import { generateKeyPairSync, randomBytes, type KeyObject, createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One version of a vault key: an RSA key pair made here and never exported. */
export interface VaultKeyVersion {
  version: string;
  privateKey: KeyObject;
  /** Unix seconds, as Key Vault's attributes carry them. */
  created: number;
}

interface Persisted {
  [name: string]: {
    current: string;
    versions: { version: string; pem: string; created: number }[];
  };
}

/**
 * The local Key Vault's keys: RSA 2048 pairs by name and version, the newest version current,
 * every older one kept (Key Vault keeps versions until the key is deleted, so data wrapped
 * under an old version still unwraps). Persisted owner-only under `dir` when it is given.
 */
export class LocalVaultKeys {
  private readonly keys = new Map<string, VaultKeyVersion[]>();
  private readonly file?: string;

  constructor(dir?: string) {
    if (!dir) return;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, 'keys.json');
    if (!existsSync(this.file)) return;
    const saved = JSON.parse(readFileSync(this.file, 'utf8')) as Persisted;
    for (const [name, k] of Object.entries(saved)) {
      const versions = k.versions.map((v) => ({
        version: v.version,
        created: v.created,
        privateKey: createPrivateKey(v.pem),
      }));
      // The current version last: `current()` reads the end of the list.
      versions.sort((a, b) => Number(a.version === k.current) - Number(b.version === k.current));
      this.keys.set(name, versions);
    }
  }

  /** Makes the key (one version) unless it exists: what the Bicep deployment does in Azure. */
  ensure(name: string): VaultKeyVersion {
    return this.current(name) ?? this.rotate(name);
  }

  /** A new current version; older versions stay usable for unwrap. */
  rotate(name: string): VaultKeyVersion {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const v: VaultKeyVersion = {
      version: randomBytes(16).toString('hex'), // Key Vault's versions are 32 hex characters
      privateKey,
      created: Math.floor(Date.now() / 1000),
    };
    this.keys.set(name, [...(this.keys.get(name) ?? []), v]);
    this.save();
    return v;
  }

  current(name: string): VaultKeyVersion | undefined {
    return this.keys.get(name)?.at(-1);
  }

  get(name: string, version: string): VaultKeyVersion | undefined {
    return this.keys.get(name)?.find((v) => v.version === version);
  }

  private save(): void {
    if (!this.file) return;
    const out: Persisted = {};
    for (const [name, versions] of this.keys) {
      out[name] = {
        current: versions.at(-1)!.version,
        versions: versions.map((v) => ({
          version: v.version,
          created: v.created,
          pem: v.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        })),
      };
    }
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(out), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
