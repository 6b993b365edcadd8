import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { describe, expect, it } from 'vitest';
import { enrollmentToken } from '../../support/adminApi';
import { useSharedLocalStack } from '../../support/useLocalStack';

describe('the local stack wraps data keys with its Key Vault key, as in Azure', () => {
  const env = useSharedLocalStack('haven-kek-stack-');

  it('a machine enrolled through the API has its data key wrapped by the vault current key version', async () => {
    const { stack } = env;
    expect(stack.env.HAVEN_KEYVAULT_URL).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(stack.env.HAVEN_KEYVAULT_TOKEN).toBeUndefined(); // kept out of local.env
    const token = await enrollmentToken(stack);
    const res = await fetch(`${stack.apiUrl}/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, hostname: 'kek01', os: 'Debian 12', disks: [] }),
    });
    expect(res.status).toBe(201);
    const enrolled = (await res.json()) as { machineId: string; dataKey: { keyId: string } };

    const client = new CosmosClient({
      endpoint: stack.env.HAVEN_COSMOS_ENDPOINT!,
      key: stack.env.HAVEN_COSMOS_KEY!,
      connectionPolicy: { enableEndpointDiscovery: false },
    });
    try {
      const { resource: doc } = await client
        .database('haven')
        .container('dataKeys')
        .item(enrolled.dataKey.keyId, enrolled.machineId)
        .read<{ kekId: string; wrapped: string }>();
      expect(doc?.kekId).toBe('keyvault:127.0.0.1/haven-kek-wrap');
      const wrapped = Buffer.from(doc!.wrapped, 'base64');
      const version = wrapped.subarray(1, 1 + wrapped[0]!).toString('ascii');
      const keys = JSON.parse(
        readFileSync(join(stack.stateDir, 'keyvault', 'keys.json'), 'utf8'),
      ) as Record<string, { current: string }>;
      expect(version).toBe(keys['haven-kek-wrap']!.current);
    } finally {
      client.dispose();
    }
  });
});
