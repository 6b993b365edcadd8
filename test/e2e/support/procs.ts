import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { claimPort } from '../../../local/stack/freePort';
import { parseLocalEnv } from '../../../local/stack/localEnvFile';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
const AGENT_CLI = path.join(ROOT, 'edge-agent', 'cli.ts');
const STACK_MAIN = path.join(ROOT, 'local', 'stack', 'main.ts');
const APP_ENTRY = path.join(ROOT, 'functions', 'index.ts');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Child {
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  done: Promise<Exit>;
}

/** `node --import tsx FILE ARGS` (TypeScript source: a stale dist/ can't be used). */
export function spawnTs(
  file: string,
  args: string[],
  opts: { detached?: boolean; env?: NodeJS.ProcessEnv } = {},
): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached,
  });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const done = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, ...out })),
  );
  return { child, out, done };
}

/** The agent CLI from source on one state dir. */
export function startAgent(stateDir: string, args: string[], env?: NodeJS.ProcessEnv): Child {
  return spawnTs(AGENT_CLI, [...args, '--state-dir', stateDir], { env });
}

/** Runs the agent to completion; throws with its stderr unless it exits 0; returns parsed --json stdout. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function agentJson<T = any>(stateDir: string, args: string[]): Promise<T> {
  const r = await startAgent(stateDir, [...args, '--json']).done;
  if (r.code !== 0)
    throw new Error(
      `haven-agent ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stdout}${r.stderr.slice(-3000)}`,
    );
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

export interface StackProc {
  port: number;
  stateDir: string;
  apiUrl: string;
  env: Record<string, string>;
  proc: Child;
  /**
   * SIGKILL. 'all': the whole process group (host, in-process Cosmos and Event Hubs emulators,
   * durable backend, and the Azurite child): a machine loss. 'host': Azurite, the stand-in for
   * Azure Storage (which never loses an acknowledged write), is stopped cleanly first (it saves
   * its metadata only every 5 s, and only a clean stop saves the rest); then SIGKILL to the rest.
   */
  kill9(what?: 'all' | 'host'): Promise<void>;
  /** SIGTERM, clean stop. */
  stop(): Promise<void>;
}

export const freePort = () => claimPort(0, '127.0.0.1');

/**
 * `local/stack/main.ts` as a child in its own process group, on a fixed port and a persistent
 * state dir (so it can be killed and restarted on both), loading the app from source.
 */
export async function startStack(stateDir: string, port?: number): Promise<StackProc> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStackOn(stateDir, port ?? (await freePort()));
    } catch (e) {
      // A free port can be taken by another test between the probe and the stack's listen.
      if (port !== undefined || attempt >= 5 || !/already in use/.test(String(e))) throw e;
    }
  }
}

/**
 * The stack runs under a small `sh` watchdog that leads its own process group: the shell starts
 * the stack, then blocks reading its stdin (a pipe from this process). When this process goes
 * away, even by SIGKILL (a vitest worker killed on timeout), the pipe closes and the shell kills
 * the group, so no stack or Azurite outlives the test.
 */
async function startStackOn(stateDir: string, p: number): Promise<StackProc> {
  const script = `"$0" --import tsx "$@" <&- & echo "stack-pid $!" >&2; read _; kill -KILL 0`;
  const child = spawn(
    'sh',
    [
      '-c',
      script,
      process.execPath,
      STACK_MAIN,
      '--port',
      String(p),
      '--state-dir',
      stateDir,
      '--entry',
      APP_ENTRY,
    ],
    { cwd: ROOT, env: process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true },
  );
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const done = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, ...out })),
  );
  const proc: Child = { child, out, done };
  const pgid = child.pid!;
  const until = Date.now() + 180_000;
  while (!out.stdout.includes('ready at')) {
    if (child.exitCode !== null || Date.now() > until || !stackAlive()) {
      await stopGroup(pgid, 'SIGKILL');
      throw new Error(`stack did not start: ${out.stdout}${out.stderr}`);
    }
    await sleep(100);
  }
  function stackPid(): number {
    return Number(/stack-pid (\d+)/.exec(out.stderr)?.[1] ?? 0);
  }
  function stackAlive(): boolean {
    const pid = stackPid();
    if (!pid) return true; // not reported yet
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  const env = parseLocalEnv(readFileSync(path.join(stateDir, 'local.env'), 'utf8'));
  return {
    port: p,
    stateDir,
    apiUrl: env.HAVEN_API_URL!,
    env,
    proc,
    async kill9(what = 'all') {
      if (what === 'host') await stopChildrenNamed(stackPid(), 'azurite');
      await stopGroup(pgid, 'SIGKILL');
      await done;
      // Give the kernel a moment to free the ports.
      await sleep(300);
    },
    async stop() {
      const pid = stackPid();
      if (pid) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        for (let i = 0; i < 600 && stackAlive(); i++) await sleep(50);
      }
      child.stdin!.end(); // the watchdog kills whatever is left
      await stopGroup(pgid, 'SIGKILL');
      await done;
    },
  };
}

/** SIGTERM to the children of `ppid` whose command line contains `name`; waits for them to exit. */
async function stopChildrenNamed(ppid: number, name: string): Promise<void> {
  const pids = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return (
          Number(fields[1]) === ppid && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(name)
        );
      } catch {
        return false;
      }
    })
    .map(Number);
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 400 && pids.some(alive); i++) await sleep(50);
}

/** `signal` to what is left of a process group, then waits until it is empty. */
async function stopGroup(pgid: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const alive = () => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (alive()) process.kill(-pgid, signal);
  for (let i = 0; alive(); i++) {
    if (i === 300) process.kill(-pgid, 'SIGKILL');
    await sleep(50);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
