import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Child, Exit } from '../../support/procs';
import { waitFor } from '../../support/waitFor';

/**
 * How far a `run --once --json` got, from what it wrote: its pid lock (Node started, state
 * open), then its own log lines. 'spooling': scanning, batching, spooling and sending;
 * 'sending': the bookmark is spooled, batches before it are not all acknowledged by Event Hubs;
 * 'awaiting point': everything is acknowledged, ingest and hydrate have not yet published the
 * point; 'done': it exited on its own.
 */
export type RunPhase = 'starting' | 'spooling' | 'sending' | 'awaiting point' | 'done';

const SPOOLED = '"msg":"bookmark spooled"';
const SENT = '"msg":"bookmark sent"';

/** The lock file names this child: it holds the machine's state dir. */
export function holdsLock(stateDir: string, run: Child): boolean {
  try {
    return readFileSync(path.join(stateDir, 'agent.pid'), 'utf8').trim() === String(run.child.pid);
  } catch {
    return false;
  }
}

/** Waits until the run holds its state dir (false if it exited first). */
export async function agentStarted(stateDir: string, run: Child): Promise<boolean> {
  await waitFor(
    `agent ${run.child.pid} holds ${stateDir}`,
    () => run.exited() || holdsLock(stateDir, run),
    {
      timeoutMs: 120_000,
      intervalMs: 10,
    },
  );
  return !run.exited();
}

/** The phase a run had reached when it ended, from all it wrote; `locked`: it held the lock then. */
export function phaseReached(r: Exit, locked: boolean): RunPhase {
  if (r.signal === null) return 'done';
  if (r.stderr.includes(SENT)) return 'awaiting point';
  if (r.stderr.includes(SPOOLED)) return 'sending';
  return locked ? 'spooling' : 'starting';
}

/** Resolves when the run logs that its bookmark is spooled ('sending') or sent ('awaiting point'). */
export function phaseStarts(run: Child, phase: 'sending' | 'awaiting point'): Promise<unknown> {
  return run.waitForOutput(phase === 'sending' ? SPOOLED : SENT, {
    stream: 'stderr',
    timeoutMs: 600_000,
  });
}

/**
 * SIGKILL as soon as `when` resolves (unless the run already ended), then the phase the run had
 * reached: a kill counts as landing in that window only if the run's own output says so.
 */
export async function killWhen(
  stateDir: string,
  run: Child,
  when: Promise<unknown>,
): Promise<{ phase: RunPhase; exit: Exit }> {
  let locked = false;
  await when.catch(() => undefined); // the run ended before: nothing to aim at
  if (!run.exited()) {
    locked = holdsLock(stateDir, run);
    run.child.kill('SIGKILL');
  }
  const exit = await run.done;
  return { phase: phaseReached(exit, locked), exit };
}

export const randomInt = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo));

export const after = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Counts by label, printed as one line (what a fault test's kills hit). */
export function tally<K extends string>(): {
  add(k: K): void;
  get(k: K): number;
  toString(): string;
} {
  const counts = new Map<K, number>();
  return {
    add: (k) => void counts.set(k, (counts.get(k) ?? 0) + 1),
    get: (k) => counts.get(k) ?? 0,
    toString: () => JSON.stringify(Object.fromEntries(counts)),
  };
}
