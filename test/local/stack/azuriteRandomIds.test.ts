import { randomFillSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { azuriteResolve } from '../../../local/stack/azuriteModules';
import { installPooledUuidRandom, pooledRandom16 } from '../../../local/stack/azuriteRandomIds';

describe('Azurite ids from a pool of random bytes (local stack patch)', () => {
  it('gives 16 fresh bytes a draw, refilling the pool every 4 KiB', () => {
    let fills = 0;
    const next = pooledRandom16((b) => (fills++, randomFillSync(b)));
    const seen = new Set<string>();
    const first = next();
    const kept = Buffer.from(first);
    for (let i = 0; i < 5000; i++) {
      const r = next();
      expect(r.length).toBe(16);
      seen.add(r.toString('hex'));
      r.fill(0); // uuid writes its version bits into what it is given
    }
    expect(seen.size).toBe(5000);
    expect(first.equals(kept)).toBe(true);
    expect(fills).toBe(Math.ceil((5001 * 16) / 4096));
  });

  it('is what Azurite’s uuid draws from once installed: v4 ids, all distinct', () => {
    installPooledUuidRandom();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const rng = require(azuriteResolve('uuid/lib/rng')) as { name: string };
    expect(rng.name).not.toBe('nodeRNG');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const v4 = require(azuriteResolve('uuid/v4')) as () => string;
    const ids = new Set(Array.from({ length: 2000 }, () => v4()));
    expect(ids.size).toBe(2000);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });
});
