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
