import { Resyncs } from '../../core/controlPlane/resyncs';
import { protectionDeps } from './protectionDeps';

/**
 * Activities of the resync saga (the replica is created with the enable-protection saga's
 * idempotent CreateReplica/EnsureStaging; its job updates with EnableProtection_UpdateJob).
 */
export const ResyncActivity = {
  check: 'Resync_Check',
  getSettings: 'Resync_GetSettings',
} as const;

export interface ResyncCheckInput {
  machineId: string;
  jobId: string;
}

export interface ResyncCheck {
  done: boolean;
  pending: string[];
  state: string | null;
}

/** Settles the machine's resyncs (core Resyncs.settle): idempotent, re-run safely. */
async function check(input: ResyncCheckInput): Promise<ResyncCheck> {
  const d = await protectionDeps();
  const resyncs = new Resyncs(d.documents, d.machines, d.items, d.jobs, d.clock);
  return resyncs.settle(input.machineId, input.jobId);
}

export interface ResyncSettings {
  /** How often the saga looks again without a new point (a lost InitialSyncComplete event). */
  recheckMs: number;
}

async function getSettings(): Promise<ResyncSettings> {
  const { initialSyncTimeoutMs } = await protectionDeps();
  // Points normally wake the saga; the timer only covers a missed wake-up.
  return { recheckMs: Math.min(60_000, initialSyncTimeoutMs) };
}

export const resyncActivities: Record<string, (input: never) => Promise<unknown>> = {
  [ResyncActivity.check]: check,
  [ResyncActivity.getSettings]: getSettings,
};
