import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type * as TS from 'typescript';
import { ROOT } from './procs';

/** What the tests run as children: the product, the local stand-ins and the test helpers. */
const SOURCE_DIRS = [
  'app',
  'core',
  'adapters',
  'functions',
  'orchestrations',
  'edge-agent',
  'admin-cli',
  'local',
  'test',
];

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') yield* sources(p);
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !e.name.endsWith('.test.ts'))
      yield p;
  }
}

const mtime = (f: string) => {
  try {
    return statSync(f).mtimeMs;
  } catch {
    return -1;
  }
};

/**
 * Brings dist/ up to date for the children tests start (test/support/procs.ts runs built
 * JavaScript, not the source through tsx): every source file newer than its output is
 * transpiled again (TypeScript's transpileModule, no type check: `npm run typecheck` does that),
 * and written atomically (a temporary file renamed over the old one), so a child starting at
 * that moment, or another test run doing the same, never reads half a file. `npm test` builds
 * everything first, so there this finds nothing to do; `npx vitest run <file>` after an edit
 * transpiles only what changed. Returns the files it transpiled.
 */
export function freshBuild(): string[] {
  const stale: string[] = [];
  for (const d of SOURCE_DIRS)
    for (const src of sources(path.join(ROOT, d)))
      if (mtime(outputOf(src)) < mtime(src)) stale.push(src);
  if (stale.length === 0) return [];
  // Loaded only when needed: it takes a moment.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof TS;
  const cfgPath = path.join(ROOT, 'tsconfig.json');
  const cfg = ts.parseJsonConfigFileContent(
    ts.readConfigFile(cfgPath, (f) => ts.sys.readFile(f)).config,
    ts.sys,
    ROOT,
  );
  for (const src of stale) {
    const out = outputOf(src);
    const r = ts.transpileModule(readFileSync(src, 'utf8'), {
      compilerOptions: { ...cfg.options, noEmit: false },
      fileName: src,
      reportDiagnostics: false,
    });
    mkdirSync(path.dirname(out), { recursive: true });
    if (r.sourceMapText) writeAtomic(`${out}.map`, r.sourceMapText);
    writeAtomic(out, r.outputText);
  }
  return stale.map((s) => path.relative(ROOT, s));
}

const outputOf = (src: string) =>
  path.join(ROOT, 'dist', path.relative(ROOT, src)).replace(/\.ts$/, '.js');

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}
