import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLocalEnv } from '../../../local/stack/localEnvFile';
import { built, spawnNode } from '../../support/procs';

const fixture = built(join(__dirname, '../host/fixtures/stackApp.ts'));
const runStack = (args: string[]) => spawnNode('local/stack/main.ts', args);

describe('local stack CLI', () => {
  it('prints one ready line, writes local.env, and stops every child on SIGTERM', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'stack-cli-'));
    const stack = runStack(['--port', '0', '--state-dir', stateDir, '--entry', fixture]);
    await stack.waitForOutput('\n', { stream: 'stdout' });
    const { out } = stack;
    expect(out.stdout).toMatch(
      /^Haven local stack ready at http:\/\/127\.0\.0\.1:\d+\/api \(env: .*local\.env\)\n$/,
    );
    const env = parseLocalEnv(readFileSync(join(stateDir, 'local.env'), 'utf8'));
    expect(out.stdout).toContain(env.HAVEN_API_URL);
    const health = await fetch(`${env.HAVEN_API_URL}/notes/x`);
    expect(health.status).toBe(401);
    const blobEndpoint = /BlobEndpoint=([^;]+)/.exec(env.HAVEN_STORAGE_CONNECTION!)![1]!;
    expect((await fetch(`${blobEndpoint}?comp=list`)).status).toBeLessThan(500);

    stack.child.kill('SIGTERM');
    expect((await stack.done).code).toBe(0);
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
      const stack = runStack(['--port', String(port), '--state-dir', stateDir, '--entry', fixture]);
      const { code, stderr, stdout } = await stack.done;
      expect(code).toBe(1);
      expect(stderr.trim()).toBe(
        `Cannot start: port ${port} is already in use (is another stack running?). Use --port to pick another.`,
      );
      expect(stdout).toBe('');
    } finally {
      blocker.close();
    }
  });
});
