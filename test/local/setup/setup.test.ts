import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { setup } from '../../../local/setup/main';
import { requirements } from '../../../local/setup/requirements';
import { runProgram } from '../../support/procs';
import { repoRoot, sourceFiles } from '../../support/sourceTree';

/**
 * The set-up step: its table names every program the tree spawns, and on a machine that lacks
 * one it says what to install and stops (not root), before anything starts.
 */
/** Programs every Debian has (coreutils, dash, procps, util-linux), and the ones the set-up runs. */
const base = new Set([
  'sh',
  'ls',
  'grep',
  'cp',
  'truncate',
  'mkdir',
  'ps',
  'node',
  'mount',
  'umount',
  'fsfreeze',
  'kill',
  'apt-get',
  'apt-cache',
  'dpkg',
  'true',
  'false',
  'cat',
  'sleep',
]);
/** Literal strings passed to a call the scan reads as a spawn, that are not programs. */
const notPrograms = new Set([
  'bad_command', // a freeze hook that must fail (test/edge-agent)
  'stats', // a debugfs request through a local run() (test/e2e/support/fileBlocks.ts)
]);

/** Calls that start a program named by their first argument, and the two tool look-ups. */
const call =
  /\b(?:execFileSync|execFileP|execFile|spawnSync|spawn|spawnProgram|runProgram|withNbdProgram|timeCommand|run|exec|requireTool|findTool)\(\s*['"]([a-zA-Z0-9_.+-]+)['"](?:,\s*['"]([a-z0-9.+-]+)['"])?/g;

function scan(): { spawned: Map<string, string>; declared: [string, string, string][] } {
  const spawned = new Map<string, string>();
  const declared: [string, string, string][] = []; // requireTool(tool, package): [tool, package, file]
  for (const file of sourceFiles(repoRoot)) {
    for (const m of readFileSync(file, 'utf8').matchAll(call)) {
      if (notPrograms.has(m[1]!)) continue;
      spawned.set(m[1]!, relative(repoRoot, file));
      if (m[0].startsWith('requireTool') && m[2])
        declared.push([m[1]!, m[2], relative(repoRoot, file)]);
    }
  }
  return { spawned, declared };
}

describe('set-up requirements', () => {
  const { spawned, declared } = scan();

  it('names every external program spawned anywhere in the tree', () => {
    expect(spawned.size).toBeGreaterThan(10); // the scan found the calls at all
    const known = new Set(requirements.map((r) => r.tool));
    const unknown = [...spawned].filter(([tool]) => !known.has(tool) && !base.has(tool));
    expect(unknown, 'programs spawned but missing from local/setup/requirements.ts').toEqual([]);
  });

  it('installs nothing the tree does not spawn', () => {
    const unused = requirements.filter((r) => !r.file && !spawned.has(r.tool)).map((r) => r.tool);
    expect(unused, 'in local/setup/requirements.ts but spawned nowhere').toEqual([]);
  });

  it('installs only headers a C source of the tree includes', () => {
    const headers = requirements.filter((r) => r.file).map((r) => r.tool);
    expect(headers.length).toBeGreaterThan(0);
    const included = new Set(
      sourceFiles(repoRoot, '.c').flatMap((f) =>
        [...readFileSync(f, 'utf8').matchAll(/^#include <([^>]+)>/gm)].map((m) => m[1]!),
      ),
    );
    const unused = headers.filter((h) => !included.has(h.replace('/usr/include/', '')));
    expect(unused, 'headers in local/setup/requirements.ts that no .c file includes').toEqual([]);
  });

  it('agrees with every requireTool call on the Debian package', () => {
    expect(declared.length).toBeGreaterThan(3);
    const pkg = new Map(requirements.map((r) => [r.tool, r.debianPackage]));
    const wrong = declared.filter(([tool, p]) => pkg.has(tool) && pkg.get(tool) !== p);
    expect(wrong).toEqual([]);
  });
});

describe('set-up without root', () => {
  const scripts = (
    JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    }
  ).scripts;

  it('runs before anything else in npm start, demo, test and bench', () => {
    const order: [string, string][] = [
      ['start', 'stack'],
      ['demo', 'demo'],
      ['test', 'tests'],
      ['bench', 'bench'],
    ];
    for (const [name, purpose] of order)
      expect(scripts[name], name).toMatch(
        new RegExp(`^npm run build && node dist/local/setup/main\\.js --for ${purpose} && \\S`),
      );
  });

  it('on a machine that lacks the tools: prints the one apt-get line and stops, starting nothing', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'haven-path-'));
    try {
      symlinkSync(process.execPath, join(bin, 'node')); // a PATH with node and nothing else
      // The demo script's chain, with what would start after the set-up replaced by a marker.
      const chain = scripts
        .demo!.replace(/^npm run build && /, '')
        .replace(/ && [^&]+$/, ' && echo STARTED');
      const r = await runProgram('/bin/sh', ['-c', chain], {
        env: { PATH: bin, HAVEN_SETUP_NOT_ROOT: '1' },
        allowFail: true,
        timeoutMs: 30_000,
      });
      expect(r.code).toBe(1);
      expect(r.stdout).not.toContain('STARTED');
      const apt = r.stdout
        .split('\n')
        .filter((l) => l.includes('apt-get install'))
        .map((l) => l.replace(/^setup: run as root: /, ''));
      expect(apt).toHaveLength(1);
      expect(apt[0]).toMatch(/^apt-get install -y --no-install-recommends [a-z0-9 .+-]+$/);
      for (const pkg of ['busybox-static', 'e2fsprogs', 'qemu-system-x86', 'qemu-utils', 'openssl'])
        expect(apt[0]).toContain(pkg);
      expect(apt[0]).not.toContain('restic'); // bench only: not for the demo
      expect(r.stdout).not.toMatch(/platform|fetching|installing/i); // prepared nothing
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('refuses an unknown purpose with a clear message', async () => {
    await expect(setup(['--for', 'everything'])).rejects.toThrow(
      /--for takes stack,demo,tests,bench/,
    );
  });
});
