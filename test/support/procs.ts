import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

/** The repository root (the folder with package.json), from the source or from dist/. */
export const ROOT = ((): string => {
  for (let d = __dirname; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) throw new Error(`no package.json above ${__dirname}`);
  }
})();

/**
 * The built JavaScript of a TypeScript file of the repository (`edge-agent/cli.ts` or an
 * absolute path → `<root>/dist/edge-agent/cli.js`). Children run it instead of the source
 * through tsx (half a second and most of a core less per start); the test run's global setup
 * brings dist/ up to date first (test/support/freshBuild.ts).
 */
export function built(source: string): string {
  const rel = path.relative(ROOT, path.resolve(ROOT, source));
  if (rel.startsWith('dist' + path.sep)) return path.join(ROOT, rel);
  return path.join(ROOT, 'dist', rel.replace(/\.ts$/, '.js'));
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Child {
  child: ChildProcess;
  /** What it printed so far. */
  out: { stdout: string; stderr: string };
  /** Its exit; rejects if it could not be started at all (a missing program). */
  done: Promise<Exit>;
  /** True once it exited (or could not start). */
  exited(): boolean;
  /**
   * Resolves with the first match of `pattern` in its stdout or stderr (`stream` narrows it);
   * rejects when it exits first or after `timeoutMs`.
   */
  waitForOutput(
    pattern: RegExp | string,
    opts?: { timeoutMs?: number; stream?: 'stdout' | 'stderr'; signal?: AbortSignal },
  ): Promise<RegExpExecArray>;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  detached?: boolean;
  /** Default: ignore. 'pipe' to write to it (child.stdin). */
  stdin?: 'ignore' | 'pipe';
}

const tail = (s: string) => s.slice(-3000);

/** Any program, its output captured; `done` rejects with a clear message if it cannot start. */
export function spawnProgram(cmd: string, args: string[], opts: SpawnOptions = {}): Child {
  const stdio: StdioOptions = [opts.stdin ?? 'ignore', 'pipe', 'pipe'];
  const child = spawn(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
    stdio,
    detached: opts.detached,
  });
  const out = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  const changed = () => listeners.forEach((l) => l());
  child.stdout!.on('data', (d: Buffer) => {
    out.stdout += d.toString();
    changed();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out.stderr += d.toString();
    changed();
  });
  let over = false;
  const done = new Promise<Exit>((resolve, reject) => {
    child.once('error', (e: NodeJS.ErrnoException) => {
      over = true;
      changed();
      reject(
        e.code === 'ENOENT'
          ? new Error(`${cmd} is not installed (not on PATH); the set-up step installs it`)
          : e,
      );
    });
    // 'close', not 'exit': all output has been read by then.
    child.once('close', (code, signal) => {
      over = true;
      changed();
      resolve({ code, signal, ...out });
    });
  });
  const exited = () => over;
  return {
    child,
    out,
    done,
    exited,
    waitForOutput(pattern, o = {}) {
      const re = typeof pattern === 'string' ? new RegExp(escapeRe(pattern)) : pattern;
      const timeoutMs = o.timeoutMs ?? 120_000;
      return new Promise((resolve, reject) => {
        const check = () => {
          const text = o.stream ? out[o.stream] : `${out.stdout}\n${out.stderr}`;
          const m = re.exec(text);
          if (m) finish(() => resolve(m));
          else if (over)
            finish(() =>
              reject(
                new Error(`${cmd} exited before printing ${re}: ${tail(out.stdout + out.stderr)}`),
              ),
            );
        };
        const timer = setTimeout(
          () =>
            finish(() =>
              reject(
                new Error(
                  `${cmd} did not print ${re} within ${timeoutMs} ms: ${tail(out.stdout + out.stderr)}`,
                ),
              ),
            ),
          timeoutMs,
        );
        const aborted = () => finish(() => reject(o.signal!.reason));
        const finish = (f: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          o.signal?.removeEventListener('abort', aborted);
          f();
        };
        if (o.signal?.aborted) return aborted();
        o.signal?.addEventListener('abort', aborted, { once: true });
        listeners.add(check);
        check();
      });
    },
  };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `node <built source> ARGS`: a TypeScript file of the repository, run as its built JavaScript. */
export function spawnNode(source: string, args: string[], opts: SpawnOptions = {}): Child {
  return spawnProgram(process.execPath, [built(source), ...args], opts);
}

/** Runs a program to its end; rejects on a non-zero exit (unless allowFail) or after timeoutMs. */
export async function runProgram(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { allowFail?: boolean; timeoutMs?: number } = {},
): Promise<Exit> {
  const c = spawnProgram(cmd, args, opts);
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const timer = setTimeout(() => c.child.kill('SIGKILL'), timeoutMs);
  try {
    const r = await c.done;
    if (r.signal === 'SIGKILL' && !opts.allowFail)
      throw new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms`);
    if (r.code !== 0 && !opts.allowFail)
      throw new Error(
        `${cmd} ${args.join(' ')} → ${r.code ?? r.signal}\n${tail(r.stderr + r.stdout)}`,
      );
    return r;
  } finally {
    clearTimeout(timer);
  }
}

/** Stops a child: `signal`, then waits for its exit (SIGKILL after `graceMs`). */
export async function stopChild(c: Child, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000) {
  if (!c.exited()) c.child.kill(signal);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), graceMs);
  try {
    return await c.done;
  } finally {
    clearTimeout(timer);
  }
}

/** The agent CLI (`haven-agent`), built. */
export function startAgent(args: string[], env?: NodeJS.ProcessEnv): Child {
  return spawnNode('edge-agent/cli.ts', args, { env });
}

/** Runs the agent to its end; throws with its output unless it exits 0; returns the last stdout line as JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function agentJson<T = any>(args: string[], env?: NodeJS.ProcessEnv): Promise<T> {
  const r = await startAgent([...args, '--json'], env).done;
  if (r.code !== 0)
    throw new Error(
      `haven-agent ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stdout}${tail(r.stderr)}`,
    );
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
