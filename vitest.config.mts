import { statSync } from 'node:fs';
import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Two projects, by where a test file is and how it is named:
 *  - integration: `*.int.test.ts` anywhere, and every test of the areas that run on the
 *    emulators or as processes (test/e2e, test/local, test/functions, test/admin-cli,
 *    test/core/replication). Global setup: dist/ brought up to date (children run built
 *    JavaScript), the run's Azurite and Cosmos emulator, a local stack per worker on request.
 *  - unit: every other `*.test.ts`, in-process, no emulators (`npm run test:unit`).
 * Files run two at a time (both cores); HAVEN_SOAK=1 (`npm run test:soak`) gives fault tests
 * their full iteration counts.
 */
const integration = [
  'test/**/*.int.test.ts',
  'test/e2e/**/*.test.ts',
  'test/local/**/*.test.ts',
  'test/functions/**/*.test.ts',
  'test/admin-cli/**/*.test.ts',
  'test/core/replication/**/*.test.ts',
];

/**
 * Longest files first, so the two workers finish together instead of one running a long file
 * alone at the end. A file's length is its last duration (vitest's results cache) when known; on
 * a fresh clone (CI) there is none, and size says little (a 100-line e2e file runs a minute, a
 * 500-line unit file a second), so it is estimated from where the file is: end to end first,
 * then the other integration tests, then unit tests; larger files first within each.
 */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const estimate = (f: TestSpecification): number => {
      const rel = relative(root, f.moduleId);
      const known = this.ctx.cache.getFileTestResults(`${f.project.name}:${rel}`);
      if (known && known.duration > 0) return known.duration;
      const size = statSync(f.moduleId).size;
      if (rel.startsWith('test/e2e/') || rel.startsWith('test/local/demo/')) return 60_000 + size;
      if (f.project.name === 'integration') return 10_000 + size;
      return size / 10;
    };
    const cost = new Map(files.map((f) => [f, estimate(f)]));
    return [...files].sort((a, b) => cost.get(b)! - cost.get(a)!);
  }
}

export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/support/summaryReporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: integration,
          globalSetup: ['test/support/buildSetup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: integration,
          globalSetup: ['test/support/globalSetup.ts'],
        },
      },
    ],
  },
});
