import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface StackSecrets {
  /** The host master key, also the admin API key (HAVEN_ADMIN_KEY). */
  adminKey: string;
  /** Key-encryption key for machine data keys: base64 of 32 bytes (HAVEN_KEK). */
  kek: string;
}

/** Generated once and kept (mode 600) so restarts keep keys and wrapped data keys valid. */
export function loadOrCreateSecrets(file: string | undefined): StackSecrets {
  if (file && existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as StackSecrets;
  const secrets = {
    // Hex, not base64url: a key starting with '-' reads as an option on a command line
    // (`haven --key -x…` failed as "ambiguous").
    adminKey: randomBytes(32).toString('hex'),
    kek: randomBytes(32).toString('base64'),
  };
  if (file) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  }
  return secrets;
}
