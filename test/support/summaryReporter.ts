import type {
  Reporter,
  SerializedError,
  TestCase,
  TestModule,
  TestRunEndReason,
  TestSuite,
} from 'vitest/node' with { 'resolution-mode': 'import' };

export interface RunCount {
  passed: number;
  failed: number;
  skipped: number;
}

/** A test that did not run because a hook of its suite (or module) threw: a failure, not a skip. */
function hookFailedAbove(t: TestCase): boolean {
  for (let p: TestSuite | TestModule = t.parent; ; p = p.parent) {
    if (p.errors().length > 0) return true;
    if (p.type === 'module') return false;
  }
}

/**
 * Every error is a failure: a failed test, a test that never ran because `beforeAll` threw, an
 * error of a suite or module of its own (a throwing `beforeAll`/`afterAll`, a file that does
 * not load), an unhandled error, a run that was interrupted. A run with any of these can never
 * read "0 failed".
 */
export function countRun(
  modules: ReadonlyArray<TestModule>,
  unhandledErrors: ReadonlyArray<SerializedError>,
  reason: TestRunEndReason,
): RunCount {
  const count: RunCount = { passed: 0, failed: 0, skipped: 0 };
  for (const m of modules) {
    for (const t of m.children.allTests()) {
      const state = t.result().state;
      if (state === 'passed') count.passed++;
      else if (state === 'skipped' && !hookFailedAbove(t)) count.skipped++;
      else count.failed++; // failed, pending at the end of the run, or never ran (hook threw)
    }
    count.failed += m.errors().length;
    for (const s of m.children.allSuites()) count.failed += s.errors().length;
  }
  count.failed += unhandledErrors.length;
  if (reason === 'interrupted' && count.failed === 0) count.failed = 1;
  return count;
}

export interface FileTime {
  file: string;
  ms: number;
}

/** The `n` files that took longest (import and collection plus their tests and hooks). */
export function slowestFiles(modules: ReadonlyArray<TestModule>, n = 10): FileTime[] {
  return modules
    .map((m) => {
      const d = m.diagnostic();
      return { file: m.relativeModuleId, ms: d.collectDuration + d.setupDuration + d.duration };
    })
    .sort((a, b) => b.ms - a.ms)
    .slice(0, n);
}

/**
 * Ends the run with the ten slowest files and the plain `N passed, N failed, N skipped` line CI
 * reads (always the last line).
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(
    modules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
    reason: TestRunEndReason,
  ): void {
    const slow = slowestFiles(modules);
    if (slow.length) {
      const total = modules.reduce((s, m) => s + slowestFiles([m], 1)[0]!.ms, 0);
      console.log(`\nslowest files (of ${modules.length}, ${(total / 1000).toFixed(0)} s in all):`);
      for (const f of slow) console.log(`  ${(f.ms / 1000).toFixed(1).padStart(7)} s  ${f.file}`);
    }
    const count = countRun(modules, unhandledErrors, reason);
    console.log(`${count.passed} passed, ${count.failed} failed, ${count.skipped} skipped`);
  }
}
