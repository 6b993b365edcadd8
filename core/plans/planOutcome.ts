import type { JobState } from '../controlPlane/model';
import type { ActionKind } from './planSchema';

/** One machine's part of a plan job (the job's `result.machines`). */
export interface MachineOutcome {
  machineId: string;
  group: number;
  state: 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';
  /** Its own recovery job (a child of the plan job). */
  jobId?: string;
  /** What the saga was given: a named choice or a point id. */
  choice?: string;
  pointId?: string;
  pointTime?: string;
  vm?: { id: string; privateIp?: string; publicIp?: string; readyAt?: string };
  startedAt?: string;
  endedAt?: string;
  error?: string;
  note?: string;
}

/** One pre/post action's run (the job's `result.actions`). */
export interface ActionOutcome {
  group: number;
  phase: 'pre' | 'post';
  name: string;
  kind: ActionKind;
  state: 'running' | 'waiting' | 'succeeded' | 'failed' | 'skipped';
  startedAt?: string;
  endedAt?: string;
  /** Never a secret: webhook outcomes name the host and the status only. */
  detail?: string;
}

/**
 * A plan job's end state from its parts: every machine and action succeeded → `succeeded`;
 * nothing succeeded → `failed`; otherwise `partially-succeeded` (each machine's outcome tells
 * which). A cancelled job stays `cancelled` whatever ran before.
 */
export function planJobState(
  machines: readonly MachineOutcome[],
  actions: readonly ActionOutcome[],
  cancelled = false,
): JobState {
  if (cancelled) return 'cancelled';
  const ok = machines.filter((m) => m.state === 'succeeded').length;
  const actionFailed = actions.some((a) => a.state === 'failed');
  if (ok === machines.length && !actionFailed) return 'succeeded';
  return ok === 0 ? 'failed' : 'partially-succeeded';
}

/** Machines a restart runs again: those that did not succeed (failed, skipped, never reached). */
export const machinesToRestart = (machines: readonly MachineOutcome[]): string[] =>
  machines.filter((m) => m.state !== 'succeeded').map((m) => m.machineId);

/** What a caller may do with a plan job in this state. */
export function planAllowedActions(state: JobState, machines: readonly MachineOutcome[]): string[] {
  if (state === 'waiting-for-manual-action') return ['resume', 'cancel'];
  if (state === 'queued' || state === 'running') return ['cancel'];
  if (state === 'succeeded') return [];
  return machinesToRestart(machines).length ? ['restart'] : [];
}

/** Counts by state, for progress and the one-line summary. */
export function outcomeCounts(machines: readonly MachineOutcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of machines) out[m.state] = (out[m.state] ?? 0) + 1;
  return out;
}
