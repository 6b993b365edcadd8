import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { withKeptMemory } from './keptMemory';

export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** Directory for persistent state; omit for in-memory. */
  location?: string;
  blobPort?: number;
  queuePort?: number;
  tablePort?: number;
  /**
   * HTTPS with this certificate (PEM paths) and Entra ID bearer tokens accepted (`--oauth
   * basic`: issuer, audience and lifetime checked, not the signature): the identity path.
   */
  oauth?: { cert: string; key: string };
  /**
   * The emulator's one account, when not `devstoreaccount1` (a second account beside the first:
   * each emulator process serves its own), with the emulator's well-known key.
   */
  account?: string;
}

export interface RunningAzurite {
  blobUrl: string;
  queueUrl: string;
  tableUrl: string;
  connectionString: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function azuriteConnectionString(
  blobUrl: string,
  queueUrl: string,
  tableUrl: string,
  account = AZURITE_ACCOUNT,
): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${account}`,
    `AccountKey=${AZURITE_KEY}`,
    `BlobEndpoint=${blobUrl}/${account}`,
    `QueueEndpoint=${queueUrl}/${account}`,
    `TableEndpoint=${tableUrl}/${account}`,
  ].join(';');
}

/**
 * Node flags that load `azuritePreload` (its cost patches) into the emulator: the built
 * JS as it is, or the TypeScript source (tests) through tsx's require hook.
 */
function azuritePreload(): string[] {
  const ext = extname(__filename);
  const preload = join(__dirname, `azuritePreload${ext}`);
  return ext === '.ts'
    ? ['--require', require.resolve('tsx/cjs'), '--require', preload]
    : ['--require', preload];
}

/** Starts Azurite as a child process; port 0 picks free ports, read back from its banner. */
export async function startAzurite(opts: AzuriteOptions = {}): Promise<RunningAzurite> {
  const args = [
    ...azuritePreload(),
    require.resolve('azurite/dist/src/azurite.js'),
    '--disableTelemetry',
    '--skipApiVersionCheck',
    '--loose',
    // No access log: a line per request, formatted and piped to a parent that discards it.
    '--silent',
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    String(opts.blobPort ?? 0),
    '--queueHost',
    '127.0.0.1',
    '--queuePort',
    String(opts.queuePort ?? 0),
    '--tableHost',
    '127.0.0.1',
    '--tablePort',
    String(opts.tablePort ?? 0),
  ];
  if (opts.oauth) args.push('--oauth', 'basic', '--cert', opts.oauth.cert, '--key', opts.oauth.key);
  if (opts.location) {
    mkdirSync(opts.location, { recursive: true });
    args.push('--location', opts.location);
  } else {
    args.push('--inMemoryPersistence');
  }
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...withKeptMemory(), // every request body is a fresh buffer in the emulator
      ...(opts.account ? { AZURITE_ACCOUNTS: `${opts.account}:${AZURITE_KEY}` } : {}),
    },
  });
  const urls: Record<string, string> = {};
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const timer = setTimeout(
      () => reject(new Error(`Azurite did not start in 20 s: ${stderr}`)),
      20_000,
    );
    rl.on('line', (line) => {
      const m = /Azurite (Blob|Queue|Table) service is successfully listening at (\S+)/.exec(line);
      if (m) urls[m[1]!.toLowerCase()] = m[2]!;
      if (urls.blob && urls.queue && urls.table) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with code ${code}: ${stderr.trim()}`));
    });
  });
  child.stdout?.resume();
  const blobUrl = urls.blob!;
  const queueUrl = urls.queue!;
  const tableUrl = urls.table!;
  return {
    blobUrl,
    queueUrl,
    tableUrl,
    connectionString: azuriteConnectionString(blobUrl, queueUrl, tableUrl, opts.account),
    process: child,
    stop: () => stopChild(child),
  };
}

export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
