import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/sourceTree';

// No Bicep compiler here: these keep infra/ and the app consistent by reading both.
const read = (...p: string[]) => readFileSync(join(repoRoot, ...p), 'utf8');
const functions = read('infra', 'modules', 'functions.bicep');
const secrets = read('infra', 'modules', 'secrets.bicep');
const eventHubs = read('infra', 'modules', 'eventhubs.bicep');
const azureYaml = read('azure.yaml');
const keyVault = read('infra', 'modules', 'keyvault.bicep');
const roles = read('infra', 'modules', 'roles.bicep');
const main = read('infra', 'main.bicep');
const config = read('app', 'config.ts');

describe('infra and the app agree', () => {
  it('every Key Vault reference of the app names a secret the deployment writes', () => {
    const referenced = [...functions.matchAll(/secrets\/([a-z0-9-]+)\/\)/g)].map((m) => m[1]!);
    expect(referenced.length).toBeGreaterThan(0);
    const written = [
      ...[...secrets.matchAll(/name: '([a-z0-9-]+)'\n/g)].map((m) => m[1]!),
      ...[...azureYaml.matchAll(/secret set .*--name ([a-z0-9-]+)/g)].map((m) => m[1]!),
    ];
    for (const name of referenced) expect(written, name).toContain(name);
  });

  it('every HAVEN_ app setting is one the app reads', () => {
    const settings = [...functions.matchAll(/name: '(HAVEN_[A-Z_]+)'/g)].map((m) => m[1]!);
    expect(settings).toContain('HAVEN_EVENTHUBS_SIGNING_CONNECTION');
    for (const s of settings) expect(config, s).toContain(`env.${s}`);
  });

  it('the app wraps data keys with the vault key the deployment makes, by identity, with wrap/unwrap rights', () => {
    expect(functions).toMatch(/name: 'HAVEN_KEYVAULT_URL', value: keyVaultUri \}/);
    expect(functions).toMatch(/name: 'HAVEN_KEK_KEY_NAME', value: kekKeyName \}/);
    expect(functions).toMatch(/name: 'HAVEN_KEYVAULT_CREDENTIAL', value: 'managed-identity' \}/);
    expect(main).toMatch(/kekKeyName: keyVault\.outputs\.kekKeyName/);
    expect(keyVault).toMatch(/output kekKeyName string = kek\.name/);
    const key =
      /resource kek 'Microsoft\.KeyVault\/vaults\/keys@[^']+' = \{[^}]*name: '([a-z0-9-]+)'\s*properties: \{([^}]*)\}/.exec(
        keyVault,
      );
    expect(key?.[1]).toBe('haven-kek-wrap');
    // RSA-OAEP-256 of a 64-byte plaintext (data key + AAD hash) needs a 2048-bit key or larger.
    expect(key![2]).toMatch(
      /kty: 'RSA', keySize: (2048|3072|4096), keyOps: \['wrapKey', 'unwrapKey'\]/,
    );
    expect(roles).toMatch(/keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424'/);
    expect(roles).toMatch(/roleIds\.keyVaultCryptoUser/);
  });

  it('no Event Hubs rule both listens and sends; the one signing agent tokens only sends', () => {
    const rules = [
      ...eventHubs.matchAll(/name: '([a-z-]+)'\s*properties: \{ rights: \[([^\]]*)\]/g),
    ];
    expect(rules.map((r) => r[1])).toEqual(['haven-listen', 'haven-agent-signing']);
    for (const [, , rights] of rules) expect(rights!.split(',')).toHaveLength(1);
    expect(rules.find((r) => r[1] === 'haven-agent-signing')![2]).toBe("'Send'");
    expect(secrets).toMatch(/signingRule\.listKeys\(\)/);
  });
});
