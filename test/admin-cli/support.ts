import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run } from '../../admin-cli/main';
import { startHost, type RunningHost } from '../../local/host/startHost';
import { sharedStack, uniqueName } from '../support/stack';

const repo = resolve(__dirname, '../..');

/**
 * A Functions host with the control plane on the run's shared emulators, and a working
 * directory whose `.haven/local.env` points at it (what `npm start` writes for the CLI).
 */
export async function startCliHost(
  name: string,
): Promise<{ host: RunningHost; cwd: string; masterKey: string }> {
  const masterKey = randomBytes(24).toString('base64url');
  const { cosmosEndpoint, cosmosKey, storageConnection } = sharedStack();
  const host = await startHost({
    entry: [join(repo, 'functions/controlPlane/index.ts')],
    stateDir: mkdtempSync(join(tmpdir(), `haven-${name}-`)),
    masterKey,
    hostJsonPath: join(repo, 'host.json'),
    settings: {
      HAVEN_STORAGE_CONNECTION: storageConnection,
      HAVEN_COSMOS_ENDPOINT: cosmosEndpoint,
      HAVEN_COSMOS_KEY: cosmosKey,
      HAVEN_COSMOS_DATABASE: uniqueName(name),
      HAVEN_KEK: randomBytes(32).toString('base64'),
      HAVEN_ADMIN_KEY: masterKey,
    },
    log: { info: () => {}, warn: () => {}, error: () => {} },
  });
  const cwd = mkdtempSync(join(tmpdir(), 'haven-cwd-'));
  mkdirSync(join(cwd, '.haven'));
  writeFileSync(
    join(cwd, '.haven/local.env'),
    `# written by the local stack\nHAVEN_API_URL=${host.baseUrl}\nHAVEN_ADMIN_KEY="${masterKey}"\n`,
  );
  return { host, cwd, masterKey };
}

/** Runs the CLI in-process in `cwd`, as `haven …` would. */
export async function runCli(cwd: string, argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { cwd, env: {}, out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}
