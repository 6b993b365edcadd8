import type { ChildProcess } from 'node:child_process';
import { spawnNode, stopChild } from '../../support/procs';

export interface HostProcess {
  baseUrl: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Runs `local/host/main` (built) in a child process (a real restart is a new process). */
export async function spawnHost(args: string[]): Promise<HostProcess> {
  const c = spawnNode('local/host/main.ts', args);
  const ready = await c.waitForOutput(/^Haven host ready at (\S+)/m, { stream: 'stdout' });
  return {
    baseUrl: ready[1]!,
    child: c.child,
    output: () => c.out.stdout + c.out.stderr,
    stop: async () => (await stopChild(c, 'SIGTERM')).code,
  };
}
