import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(ROOT, 'edge-agent', 'cli.ts');

export interface AgentRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts the agent CLI from TypeScript source (node --import tsx), as the conventions ask. */
export function startAgent(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; done: Promise<AgentRun> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<AgentRun>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

export async function agent(args: string[]): Promise<AgentRun> {
  return startAgent(args).done;
}

/** One `run --once` into a capture dir that prints its result (and recovery point) as JSON. */
export function onceToCapture(capture: string, stateArgs: string[]): string[] {
  return ['run', '--once', '--json', '--timeout', '120', '--capture', capture, ...stateArgs];
}

/** Enrolls a state dir with the fake control plane and adds `image` as a disk; returns its id. */
export async function enrollWithDisk(
  cp: { url: string; token: string },
  image: string,
  stateArgs: string[],
): Promise<string> {
  const enrolled = await agent(['enroll', '--api', cp.url, '--token', cp.token, ...stateArgs]);
  if (enrolled.code !== 0) throw new Error(`enroll failed: ${enrolled.stderr}`);
  const added = await agent(['disk', 'add', image, '--json', ...stateArgs]);
  if (added.code !== 0) throw new Error(`disk add failed: ${added.stderr}`);
  return (JSON.parse(added.stdout) as { id: string }).id;
}
