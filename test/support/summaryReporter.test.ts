import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from './procs';

/**
 * The summary line is what CI reads: a run of fixture files with a throwing beforeAll, a throwing
 * afterAll, an unhandled error and a file that does not load must not read "0 failed".
 */
it('counts every error of a run as a failure and lists the slowest files', () => {
  const fixtures = path.join(__dirname, 'fixtures', 'reporterRun');
  const r = spawnSync(
    process.execPath,
    [
      path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'),
      'run',
      '--config',
      path.join(fixtures, 'vitest.config.mts'),
      '--reporter',
      path.join(__dirname, 'summaryReporter.ts'),
    ],
    { cwd: fixtures, encoding: 'utf8', env: { ...process.env, CI: '' }, timeout: 60_000 },
  );
  const lines = r.stdout.trim().split('\n');
  // passed: the afterAll suite's test, the one that throws later, fine.check.ts.
  // failed: 2 tests that never ran + the beforeAll error + the afterAll error + the file that
  // does not load + the unhandled error.
  expect(lines.at(-1), r.stdout + r.stderr).toBe('3 passed, 6 failed, 1 skipped');
  expect(r.status).not.toBe(0);
  const slow = lines.slice(lines.findIndex((l) => l.startsWith('slowest files')) + 1, -1);
  expect(slow.map((l) => l.trim().split(/\s+/).pop()).sort()).toEqual([
    'fine.check.ts',
    'hooks.check.ts',
    'load.check.ts',
  ]);
});
