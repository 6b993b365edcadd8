import { afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const tempDirs: string[] = [];
// Images and journals are large: remove them after the test file (hooks registered here attach
// to the importing file's root suite), and on worker exit for whatever is left.
function removeTempDirs(): void {
  for (const d of tempDirs.splice(0)) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
}
afterAll(() => removeTempDirs());
process.once('exit', removeTempDirs);

export function tempDir(prefix = 'haven-nbd-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

const SERVE = resolve(__dirname, '../../../edge-agent/nbd/serveDisk.ts');

/**
 * Starts `serve-disk <args>` from TypeScript source in a child process (so a SIGKILL hits only
 * the server); resolves once it prints "ready", rejects if it exits first.
 */
export function startServeDisk(args: string[]): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['--import', 'tsx', SERVE, 'serve-disk', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((res, rej) => {
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    p.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && res(p));
    p.once('exit', (code) => rej(new Error(`serve-disk exited ${code}: ${err}`)));
  });
}

export { controlRequest as control } from '../../../edge-agent/nbd/controlClient';

export function unixUri(socketPath: string): string {
  return `nbd+unix:///?socket=${socketPath}`;
}

/** Runs a command to completion; rejects on a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { allowFail?: boolean; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0 && !opts.allowFail)
        reject(new Error(`${cmd} ${args.join(' ')} → ${code}\n${stderr}${stdout}`));
      else resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
