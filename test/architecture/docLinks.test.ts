import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, sourceFiles } from '../support/sourceTree';

/**
 * The repository stands on its own: a clone has every file its docs link to, and neither the
 * docs nor the code point at files outside it or at one machine's paths.
 */
const docs = [
  join(repoRoot, 'README.md'),
  ...readdirSync(join(repoRoot, 'docs'))
    .filter((n) => n.endsWith('.md'))
    .map((n) => join(repoRoot, 'docs', n)),
];
const rel = (f: string) => relative(repoRoot, f);
const allFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? allFiles(join(dir, e.name)) : [join(dir, e.name)],
  );

describe('docs and code stand on their own', () => {
  it('every relative link in README.md and docs/ names a file of the repository', () => {
    const broken: string[] = [];
    let links = 0;
    for (const doc of docs) {
      for (const m of readFileSync(doc, 'utf8').matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        links++;
        const path = resolve(dirname(doc), target);
        if (rel(path).startsWith('..') || !existsSync(path)) broken.push(`${rel(doc)}: ${target}`);
      }
    }
    expect(links).toBeGreaterThan(10); // the scan found the links
    expect(broken).toEqual([]);
  });

  it('nothing refers to files outside the repository or to a machine path', () => {
    const outside = /\.\.\/shared|\/work\/|recovery-notes|platform-notes|shared\/design/;
    const config = [
      '.ci/run',
      'package.json',
      'eslint.config.mjs',
      'vitest.config.mts',
      'azure.yaml',
    ];
    const files = [
      ...docs,
      ...sourceFiles(repoRoot),
      ...config.map((f) => join(repoRoot, f)),
      ...['bin', 'infra'].flatMap((d) => allFiles(join(repoRoot, d))),
    ].filter((f) => f !== __filename);
    const found = files.filter((f) => outside.test(readFileSync(f, 'utf8'))).map(rel);
    expect(files.length).toBeGreaterThan(200);
    expect(found).toEqual([]);
  });
});
