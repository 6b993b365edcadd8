import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startHost } from '../../../local/host/startHost';

const quiet = { info() {}, warn() {}, error() {} };
const start = (settings: Record<string, string>) =>
  startHost({
    entry: [join(__dirname, 'fixtures/httpApp.ts')],
    stateDir: mkdtempSync(join(tmpdir(), 'host-settings-')),
    masterKey: 'settings-test-master-key',
    settings,
    log: quiet,
  });

/**
 * The app reads its settings from process.env, so a host exports them; a stopped host takes
 * them back. Otherwise a later host in the same process (a bench's second part, a restarted
 * stack) builds its app on the first one's settings: endpoints of stopped emulators.
 */
describe('host settings', () => {
  it('are exported while the host runs and gone (or restored) once it stops', async () => {
    process.env.HAVEN_SETTINGS_TEST_KEPT = 'before';
    delete process.env.HAVEN_SETTINGS_TEST_ONLY_A;
    const a = await start({
      HAVEN_SETTINGS_TEST_ONLY_A: 'a',
      HAVEN_SETTINGS_TEST_KEPT: 'a',
    });
    expect(process.env.HAVEN_SETTINGS_TEST_ONLY_A).toBe('a');
    expect(process.env.HAVEN_SETTINGS_TEST_KEPT).toBe('a');
    await a.stop();
    expect(process.env.HAVEN_SETTINGS_TEST_ONLY_A).toBeUndefined();
    expect(process.env.HAVEN_SETTINGS_TEST_KEPT).toBe('before');

    // Stopping an older host does not take what a newer one set.
    const b = await start({ HAVEN_SETTINGS_TEST_ONLY_A: 'b1' });
    const c = await start({ HAVEN_SETTINGS_TEST_ONLY_A: 'c' });
    await b.stop();
    expect(process.env.HAVEN_SETTINGS_TEST_ONLY_A).toBe('c');
    await c.stop();
    delete process.env.HAVEN_SETTINGS_TEST_KEPT;
  });
});
