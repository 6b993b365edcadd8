import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { claimPort } from '../../local/stack/freePort';
import { parseLocalEnv } from '../../local/stack/localEnvFile';

/** The RPO bench's local stack: its own process group, its host log tailed for hydrate lines. */
export const benchRoot = resolve(__dirname, '..', '..', '..');
const stackMain = join(benchRoot, 'dist', 'local', 'stack', 'main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Node flags for the children: HAVEN_BENCH_CPU_PROF=dir profiles them (`--cpu-prof`). */
export function nodeFlags(name: string): string[] {
  const dir = process.env.HAVEN_BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', '--cpu-prof-dir', join(dir, name)] : [];
}

export interface Stack {
  pid: number;
  apiUrl: string;
  env: Record<string, string>;
  /** The host's hydrate lines (requests per drain), with the time each arrived. */
  hydrateLog: HydrateLine[];
  stop(): Promise<void>;
}

export interface HydrateLine {
  at: number;
  applied: number;
  pageWrites: number;
  clears: number;
  readBacks: number;
}

const HYDRATE_LINE =
  /hydrate \S+: \w+, applied (\d+), .*page writes (\d+), clears (\d+), read-backs (\d+)/;

/**
 * The stack's emulators keep their state in memory here unless HAVEN_BENCH_RPO_STACK=persistent.
 * Azurite on disk serializes its whole metadata store every 5 s, every snapshot's page-range
 * list included: with a point a second over a replica under random churn that grows with
 * snapshots × ranges and ends up taking most of a core of the two (measured: 1.7 → 10.7 ms of
 * emulator CPU per page write after 240 snapshots), a cost with no counterpart in Azure. This
 * bench restarts nothing, so it loses nothing by it.
 */
export const stackPersistent = process.env.HAVEN_BENCH_RPO_STACK === 'persistent';

/**
 * The replicas in their own storage account (a second emulator), as deployed: hydrate's page
 * writes, whose cost in the emulator grows with the replica's snapshots, then do not queue ahead
 * of the claim-check uploads and staging writes durability waits for (docs/durability.md,
 * "RPO measured"). HAVEN_BENCH_RPO_ACCOUNTS=1 keeps everything in one account, for A/B runs.
 */
export const replicaAccount = process.env.HAVEN_BENCH_RPO_ACCOUNTS !== '1';

/** The local stack as its own process group (so Azurite and the host leave with it). */
export async function startStack(stateDir: string): Promise<Stack> {
  const port = await claimPort(0, '127.0.0.1');
  const p = spawn(
    process.execPath,
    [
      ...nodeFlags('stack'),
      stackMain,
      ...['--port', String(port), '--state-dir', stateDir, '--fresh'],
      ...(stackPersistent ? [] : ['--in-memory']),
      ...(replicaAccount ? [] : ['--one-account']),
    ],
    {
      cwd: benchRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      // Azurite reclaims overwritten pages every 30 s, not 10 min (azuriteGcInterval.ts).
      env: { ...process.env, HAVEN_AZURITE_GC_INTERVAL_MS: '30000' },
    },
  );
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  // The host writes its log to <state>/logs/host.log: its hydrate lines count page writes.
  const hydrateLog: HydrateLine[] = [];
  const hostLog = join(stateDir, 'logs', 'host.log');
  let read = 0;
  let partial = '';
  const tail = setInterval(() => {
    try {
      const all = readFileSync(hostLog);
      const chunk = all.subarray(read).toString();
      read = all.length;
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const m = HYDRATE_LINE.exec(line);
        if (!m) continue;
        const [applied, pageWrites, clears, readBacks] = m.slice(1).map(Number) as [
          number,
          number,
          number,
          number,
        ];
        const at = Date.parse(line.slice(0, 24));
        hydrateLog.push({
          at: Number.isNaN(at) ? Date.now() : at,
          applied,
          pageWrites,
          clears,
          readBacks,
        });
      }
    } catch {
      /* not there yet */
    }
  }, 500);
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  const until = Date.now() + 180_000;
  while (!out.includes('ready at')) {
    if (p.exitCode !== null || Date.now() > until) {
      killGroup(p);
      throw new Error(`stack did not start: ${out}`);
    }
    await sleep(100);
  }
  const env = parseLocalEnv(readFileSync(join(stateDir, 'local.env'), 'utf8'));
  return {
    pid: p.pid!,
    apiUrl: env.HAVEN_API_URL!,
    env,
    hydrateLog,
    async stop() {
      clearInterval(tail);
      p.kill('SIGTERM');
      await Promise.race([exited, sleep(30_000)]);
      killGroup(p);
    },
  };
}

export function killGroup(p: ChildProcess): void {
  try {
    process.kill(-p.pid!, 'SIGKILL');
  } catch {
    /* gone */
  }
}
