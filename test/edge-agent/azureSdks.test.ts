import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { built } from '../support/procs';

/** The Azure packages a fresh process has loaded after requiring `modules` (built ones). */
function azurePackagesAfter(...modules: string[]): string[] {
  const code = `
    for (const m of ${JSON.stringify(modules.map((m) => built(m)))}) require(m);
    const names = new Set();
    for (const k of Object.keys(require.cache)) {
      const m = /node_modules\\/(@azure\\/[^/]+)\\//.exec(k);
      if (m) names.add(m[1]);
    }
    process.stdout.write(JSON.stringify([...names].sort()));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', code]).toString()) as string[];
}

describe('agent start-up', () => {
  it('loads neither Azure SDK until a sink sends (every command paid ~250 ms for them)', () => {
    const loaded = azurePackagesAfter('edge-agent/cli.ts');
    expect(loaded).not.toContain('@azure/event-hubs');
    expect(loaded).not.toContain('@azure/storage-blob');
  });

  it('loads them on first use', () => {
    const code = `const s = require(${JSON.stringify(built('edge-agent/azureSdks.ts'))});
      process.stdout.write(typeof s.eventHubsSdk().EventHubProducerClient + ' ' + typeof s.storageBlobSdk().BlockBlobClient);`;
    expect(execFileSync(process.execPath, ['-e', code]).toString()).toBe('function function');
  });
});
