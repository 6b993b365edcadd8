import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { claimPort } from '../../local/stack/freePort';
import { parseLocalEnv } from '../../local/stack/localEnvFile';
import { built, sleep, spawnProgram, type Child } from './procs';

/** Where a running local stack is: what the admin API, the agent and storage helpers need. */
export interface StackInfo {
  port: number;
  stateDir: string;
  apiUrl: string;
  /** What `<stateDir>/local.env` holds (connection strings, admin key). */
  env: Record<string, string>;
}

export interface StackProc extends StackInfo {
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

/**
 * `local/stack/main` (built) as a child in its own process group, on a persistent state dir (so
 * it can be killed and restarted on it) and a fixed port when given (a restart keeps its port).
 */
export async function startStack(
  stateDir: string,
  port?: number,
  /** App settings for the stack's process (the host merges them over its own). */
  env?: Record<string, string>,
): Promise<StackProc> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStackOn(stateDir, port ?? (await claimPort(0, '127.0.0.1')), env);
    } catch (e) {
      // A free port can be taken by another test between the probe and the stack's listen.
      if (port !== undefined || attempt >= 5 || !/already in use/.test(String(e))) throw e;
    }
  }
}

/**
 * The stack runs under a small `sh` watchdog that leads its own process group: the shell starts
 * the stack and a reader of its stdin (a pipe from this process). When this process goes away,
 * even by SIGKILL (a vitest worker killed on timeout), the pipe closes and the reader kills the
 * group, so no stack or Azurite outlives the process that started it; when the stack exits, the
 * shell kills the group too (and so reports a stack that died while starting at once).
 */
async function startStackOn(
  stateDir: string,
  p: number,
  settings?: Record<string, string>,
): Promise<StackProc> {
  const script =
    'exec 3<&0; "$0" "$@" <&- 3<&- & pid=$!; echo "stack-pid $pid" >&2; ' +
    '{ read _ <&3; kill -KILL 0; } & wait $pid; echo "stack exited: $?" >&2; kill -KILL 0';
  const args = ['--port', String(p), '--state-dir', stateDir];
  const entry = ['--entry', built('functions/index.ts')];
  const proc = spawnProgram(
    'sh',
    ['-c', script, process.execPath, built('local/stack/main.ts'), ...args, ...entry],
    { stdin: 'pipe', detached: true, ...(settings ? { env: settings } : {}) },
  );
  const pgid = proc.child.pid!;
  const stackPid = () => Number(/stack-pid (\d+)/.exec(proc.out.stderr)?.[1] ?? 0);
  try {
    await proc.waitForOutput('ready at', { timeoutMs: 180_000, stream: 'stdout' });
  } catch (e) {
    await stopGroup(pgid, 'SIGKILL');
    throw new Error(`stack did not start: ${(e as Error).message}`);
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
      await proc.done;
      // Give the kernel a moment to free the ports.
      await sleep(300);
    },
    async stop() {
      const pid = stackPid();
      if (pid && alive(pid)) {
        process.kill(pid, 'SIGTERM');
        await untilGone(() => alive(pid), 30_000);
      }
      proc.child.stdin!.end(); // the watchdog kills whatever is left
      await stopGroup(pgid, 'SIGKILL');
      await proc.done;
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (bounded) until `running()` turns false. */
async function untilGone(running: () => boolean, ms: number): Promise<void> {
  for (const until = Date.now() + ms; running() && Date.now() < until;) await sleep(50);
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
  await untilGone(() => pids.some(alive), 20_000);
}

/** `signal` to what is left of a process group, then waits until it is empty (SIGKILL after 15 s). */
async function stopGroup(pgid: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const groupAlive = () => alive(-pgid);
  if (groupAlive()) process.kill(-pgid, signal);
  await untilGone(groupAlive, 15_000);
  if (groupAlive()) {
    process.kill(-pgid, 'SIGKILL');
    await untilGone(groupAlive, 15_000);
  }
}
