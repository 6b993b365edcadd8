import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { exec } from './fioJob';
import { withNbdProgram } from './nbdTargets';

/**
 * The splitter's per-byte work in C (`native/splitBound.c`, an nbdkit plugin): a bound for what
 * a native data path could reach on the same machine, next to qemu-nbd (no journal) in the
 * splitter bench. Built with gcc for each bench run (a fraction of a second).
 */

/** `test/bench/native/splitBound.c`, found from the sources (vitest) or from `dist/`. */
function source(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'test', 'bench', 'native', 'splitBound.c');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error('test/bench/native/splitBound.c not found');
  }
}

/** Compiles the plugin into `outDir`; returns the shared object's path. */
export async function buildSplitBound(outDir: string): Promise<string> {
  const out = join(outDir, 'splitBound.so');
  await exec('gcc', ['-O2', '-fPIC', '-shared', '-o', out, source()]);
  return out;
}

/** Serves `image` through the plugin (its journal in `journalDir`) while `f` runs. */
export function withSplitBound<T>(
  plugin: string,
  image: string,
  journalDir: string,
  socketPath: string,
  f: (uri: string) => Promise<T>,
): Promise<T> {
  mkdirSync(journalDir, { recursive: true });
  const args = ['-f', '--exit-with-parent', '-U', socketPath, plugin];
  return withNbdProgram(
    'nbdkit',
    [...args, `file=${image}`, `journal=${journalDir}`],
    socketPath,
    () => f(`nbd+unix:///?socket=${socketPath}`),
  );
}
