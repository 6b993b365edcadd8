import { defineConfig } from 'vitest/config';

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

export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
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
