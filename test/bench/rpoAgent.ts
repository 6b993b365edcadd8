import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { benchRoot } from './rpoStack';

const distCli = join(benchRoot, 'dist', 'edge-agent', 'cli.js');

/** `haven-agent` from dist/, as a child process of the bench. */
export function agentCli(args: string[], env: NodeJS.ProcessEnv = {}, flags: string[] = []) {
  // dist/ directly (built by `npm run bench`), not bin/ (which may fall back to source).
  const code = `require(${JSON.stringify(distCli)}).main(process.argv.slice(1)).then((c) => process.exit(c))`;
  return spawn(process.execPath, [...flags, '-e', code, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export async function agentJson<T>(args: string[]): Promise<T> {
  const p = agentCli([...args, '--json']);
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => p.once('exit', r));
  if (code !== 0) throw new Error(`haven-agent ${args[0]} exited ${code}: ${err || out}`);
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}
