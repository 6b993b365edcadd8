import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { armService } from '../../../local/arm/armStackService';
import type { StackServiceContext } from '../../../local/stack/stackService';

const ctx: StackServiceContext = {
  stateDir: '/nonexistent',
  persistent: false,
  settings: { HAVEN_STORAGE_CONNECTION: 'UseDevelopmentStorage=true' },
  hostBaseUrl: 'http://127.0.0.1:1',
  log: { info: () => {}, warn: () => {}, error: () => {} },
};

describe('the local stack ARM service', () => {
  it('an in-memory stack keeps nothing (its state dir, with the TLS key, is removed)', async () => {
    const started = await armService.start(ctx);
    const tls = dirname(started.settings!.HAVEN_ARM_CA_CERT!);
    expect(existsSync(tls)).toBe(true);
    await started.stop!();
    expect(existsSync(dirname(dirname(tls)))).toBe(false);
  });
});
