import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Child } from './procs';
import { sleep } from './procs';

/**
 * Waits until the agent child holds its state dir (its pid lock: Node started, state opened),
 * so a kill lands in the agent's own work (scan, spool write, send, waiting for the point)
 * rather than in Node's start-up, however loaded the machine is.
 */
export async function agentStarted(stateDir: string, run: Child): Promise<boolean> {
  const lock = path.join(stateDir, 'agent.pid');
  for (;;) {
    if (run.child.exitCode !== null || run.child.signalCode !== null) return false;
    const pid = (await fsp.readFile(lock, 'utf8').catch(() => '')).trim();
    if (pid === String(run.child.pid)) return true;
    await sleep(10);
  }
}

/** Sends SIGKILL after `ms` unless the child already exited; resolves true if it was killed. */
export async function killAfter(run: Child, ms: number): Promise<boolean> {
  const t = setTimeout(() => run.child.kill('SIGKILL'), ms);
  const r = await run.done;
  clearTimeout(t);
  return r.signal === 'SIGKILL';
}

export const randomInt = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo));
