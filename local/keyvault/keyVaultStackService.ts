import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOnKeptPort } from '../stack/keptPort';
import type { StackService } from '../stack/stackService';
import { LOCAL_KEK_KEY_NAME, startLocalKeyVault } from './localKeyVault';

/**
 * `npm start` service: the local Key Vault (keys under `<stateDir>/keyvault`) and the app
 * settings that make the app wrap data keys with its key, as in Azure. Keys a stack wrapped
 * before under HAVEN_KEK keep unwrapping with it (the stack still sets it): each data key
 * document names the KEK it was wrapped under.
 */
export const keyVaultService: StackService = {
  name: 'keyvault',
  async start(ctx) {
    const stateDir = ctx.persistent ? ctx.stateDir : mkdtempSync(join(tmpdir(), 'haven-kv-'));
    const vault = await startOnKeptPort(
      ctx.persistent ? join(stateDir, 'keyvault', 'port') : undefined,
      (port) => startLocalKeyVault({ stateDir, port }),
      (v) => v.url,
    );
    ctx.log.info(`local Key Vault at ${vault.url}`);
    return {
      settings: {
        HAVEN_KEYVAULT_URL: vault.url,
        HAVEN_KEK_KEY_NAME: LOCAL_KEK_KEY_NAME,
        HAVEN_KEYVAULT_CREDENTIAL: 'static-token',
        HAVEN_KEYVAULT_TOKEN: vault.token,
        HAVEN_KEYVAULT_CA_CERT: vault.caCertPath,
      },
      private: ['HAVEN_KEYVAULT_TOKEN'],
      async stop() {
        await vault.stop();
        if (!ctx.persistent) rmSync(stateDir, { recursive: true, force: true });
      },
    };
  },
};
