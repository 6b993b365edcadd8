import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { setup } from '../../../local/setup/main';
import { requirements } from '../../../local/setup/requirements';

/**
 * The set-up step: its table names every program the tree spawns, and on a machine that lacks
 * one it says what to install and stops (not root), before anything starts.
 */
const root = join(__dirname, '..', '..', '..');
/** Programs every Debian has (coreutils, dash, procps), and the ones the set-up itself runs. */
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
  'bad_command',
  'true',
  'false',
  'cat',
  'sleep',
]);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (['node_modules', 'dist', '.git', '.haven'].includes(n)) return [];
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

describe('set-up requirements', () => {
  it('names every external program spawned anywhere in the tree', () => {
    const spawned = new Map<string, string>();
    const call =
      /\b(?:execFileSync|execFileP|execFile|spawnSync|spawn|spawnProgram|requireTool|findTool|run|exec)\(\s*['"]([a-zA-Z0-9_.+-]+)['"]/g;
    for (const file of sources(root)) {
      for (const m of readFileSync(file, 'utf8').matchAll(call))
        spawned.set(m[1]!, relative(root, file));
    }
    const known = new Set(requirements.map((r) => r.tool));
    const unknown = [...spawned].filter(([tool]) => !known.has(tool) && !base.has(tool));
    expect(unknown, 'programs spawned but missing from local/setup/requirements.ts').toEqual([]);
    expect(spawned.size).toBeGreaterThan(10); // the scan found the calls at all
  });
});

describe('set-up without root', () => {
  const saved = { path: process.env.PATH, notRoot: process.env.HAVEN_SETUP_NOT_ROOT };
  afterEach(() => {
    process.env.PATH = saved.path;
    if (saved.notRoot === undefined) delete process.env.HAVEN_SETUP_NOT_ROOT;
    else process.env.HAVEN_SETUP_NOT_ROOT = saved.notRoot;
  });

  it('prints the one apt-get line for what is missing and stops (exit 1), preparing nothing', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'haven-path-'));
    try {
      symlinkSync(process.execPath, join(bin, 'node')); // a PATH with node and nothing else
      process.env.PATH = bin;
      process.env.HAVEN_SETUP_NOT_ROOT = '1';
      const lines: string[] = [];
      const code = await setup(['--for', 'demo'], (l) => lines.push(l));
      expect(code).toBe(1);
      const apt = lines.find((l) =>
        l.startsWith('run as root: apt-get install -y --no-install-recommends '),
      );
      expect(apt).toBeDefined();
      for (const pkg of ['busybox-static', 'qemu-system-x86', 'qemu-utils', 'openssl'])
        expect(apt).toContain(pkg);
      expect(apt).not.toContain('restic'); // bench-only: not for the demo
      expect(lines.some((l) => /platform|fetching/i.test(l))).toBe(false);
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
