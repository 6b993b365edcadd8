import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLocalEnv } from '../../../local/stack/localEnvFile';

const repo = join(__dirname, '../../..');
const fixture = join(repo, 'test/local/host/fixtures/stackApp.ts');

function runStack(args: string[]) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(repo, 'local/stack/main.ts'), ...args],
    {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return { child, out, exited };
}

describe('local stack CLI', () => {
  it('prints one ready line, writes local.env, and stops every child on SIGTERM', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'stack-cli-'));
    const { child, out, exited } = runStack([
      '--port',
      '0',
      '--state-dir',
      stateDir,
      '--entry',
      fixture,
    ]);
    while (!out.stdout.includes('\n')) {
      if (child.exitCode !== null) throw new Error(`stack exited: ${out.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(out.stdout).toMatch(
      /^Haven local stack ready at http:\/\/127\.0\.0\.1:\d+\/api \(env: .*local\.env\)\n$/,
    );
    const env = parseLocalEnv(readFileSync(join(stateDir, 'local.env'), 'utf8'));
    expect(out.stdout).toContain(env.HAVEN_API_URL);
    const health = await fetch(`${env.HAVEN_API_URL}/notes/x`);
    expect(health.status).toBe(401);
    const blobEndpoint = /BlobEndpoint=([^;]+)/.exec(env.HAVEN_STORAGE_CONNECTION!)![1]!;
    expect((await fetch(`${blobEndpoint}?comp=list`)).status).toBeLessThan(500);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out.stdout.trim().split('\n')).toHaveLength(1);
    // Azurite (a child process) is gone with it, and so is the host.
    await expect(fetch(`${blobEndpoint}?comp=list`)).rejects.toThrow();
    await expect(fetch(env.HAVEN_API_URL!)).rejects.toThrow();
  });

  it('names the busy port in one line and exits non-zero', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const stateDir = mkdtempSync(join(tmpdir(), 'stack-cli-'));
      const { out, exited } = runStack([
        '--port',
        String(port),
        '--state-dir',
        stateDir,
        '--entry',
        fixture,
      ]);
      expect(await exited).toBe(1);
      expect(out.stderr.trim()).toBe(
        `Cannot start: port ${port} is already in use (is another stack running?). Use --port to pick another.`,
      );
      expect(out.stdout).toBe('');
    } finally {
      blocker.close();
    }
  });
});
