import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The repository root. */
export const repoRoot = resolve(__dirname, '..', '..');

const notSource = new Set(['node_modules', 'dist', '.git', '.haven']);

/**
 * Every TypeScript source file under `dir` (no declarations, no build output or dependencies);
 * with `ext`, the source files with that ending instead (`.c`).
 */
export function sourceFiles(dir: string, ext = '.ts'): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (notSource.has(n)) return [];
    if (statSync(p).isDirectory()) return sourceFiles(p, ext);
    return p.endsWith(ext) && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** The repository files `file` imports or re-exports by relative path (type-only ones too). */
export function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(
    /^\s*(?:import|export)\b[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/gm,
  )) {
    const base = resolve(dirname(file), m[1]!);
    const target = [`${base}.ts`, join(base, 'index.ts')].find((c) => existsSync(c));
    if (target) out.push(target);
  }
  return out;
}

/** `entry` and every repository file it reaches through imports. */
export function importClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [resolve(entry)];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...importsOf(f));
  }
  return seen;
}
