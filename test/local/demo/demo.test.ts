import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = resolve(__dirname, '../../..');

/**
 * `npm run demo` is the product's furthest path end to end and checks itself (it exits non-zero
 * on any mismatch); run it here on a small disk so it cannot rot between releases.
 */
describe('demo', () => {
  it('runs every step and proves every restore', { timeout: 300_000 }, () => {
    // The built demo, as `npm run demo` runs it (`npm test` builds first).
    const r = spawnSync(process.execPath, [join(repo, 'dist/local/demo/main.js')], {
      env: { ...process.env, HAVEN_DEMO_DISK_MIB: '32' },
      encoding: 'utf8',
      timeout: 280_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Demo passed/);
    // The restores it proved: two points, the resync's new and old ones, the live one, the
    // timed group cut (a barrier).
    expect(r.stdout.match(/equals the source at its bookmark; e2fsck clean/g)).toHaveLength(6);
    expect(r.stdout).toMatch(/timed consistency-group cut .*\(barrier across 1 member\)/);
  });
});
