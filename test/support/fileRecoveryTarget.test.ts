import { join } from 'node:path';
import { isIPv4 } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { ResourceSpec } from '../../core/recovery/ports';
import { FileRecoveryTarget } from './fileRecoveryTarget';
import { tempDir } from '../edge-agent/nbd/helpers';

/** The file-backed recovery target the durable tests and benches recover into. */
describe('FileRecoveryTarget addresses', () => {
  const pip = (name: string): ResourceSpec => ({
    type: 'Microsoft.Network/publicIPAddresses',
    resourceGroup: 'rg',
    name,
    location: 'local',
  });

  it('hands out valid, distinct public IPs however many a run makes; a PUT again keeps its address', async () => {
    const t = new FileRecoveryTarget(join(tempDir(), 'target.json'));
    await t.beginPut({ type: 'Microsoft.Resources/resourceGroups', name: 'rg', location: 'local' });
    const addresses = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const h = await t.beginPut(pip(`pip-${i}`));
      const ip = String(t.read().resources[h.resourceId.toLowerCase()]!.properties.ipAddress);
      expect(isIPv4(ip), ip).toBe(true);
      expect(ip).not.toMatch(/\.(0|255)$/);
      addresses.add(ip);
    }
    expect(addresses.size).toBe(600);
    const again = await t.beginPut(pip('pip-7'));
    const id = again.resourceId.toLowerCase();
    expect(t.read().resources[id]!.properties.ipAddress).toBe('127.77.0.11');
  });
});
