import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startLocalKeyVault, type LocalKeyVault } from '../../local/keyvault/localKeyVault';

/**
 * For the enclosing suite: a local Key Vault in this process (state under a temp dir, removed
 * afterwards). The fields are set once beforeAll has run; read them inside tests.
 */
export function useLocalKeyVault(prefix = 'haven-kv-'): { dir: string; vault: LocalKeyVault } {
  const env = {} as { dir: string; vault: LocalKeyVault };
  beforeAll(async () => {
    env.dir = mkdtempSync(join(tmpdir(), prefix));
    env.vault = await startLocalKeyVault({ stateDir: env.dir });
  });
  afterAll(async () => {
    await env.vault?.stop();
    if (env.dir) rmSync(env.dir, { recursive: true, force: true });
  });
  return env;
}
