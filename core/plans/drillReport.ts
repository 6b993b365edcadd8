import type { DrillMachine, DrillReportDoc } from './model';
import type { MachineOutcome } from './planOutcome';

/** A machine's health check at the end of the drill's test failover. */
export interface DrillHealth {
  ok: boolean;
  /** When the probe passed (or was last tried). */
  at: string;
  detail?: string;
}

/** An epoch-ms instant as ISO 8601 (activities stamp their results with it). */
export const isoTime = (ms: number): string => new Date(ms).toISOString();

const seconds = (from: string | undefined, to: string | undefined): number | undefined => {
  if (!from || !to) return undefined;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) ? Math.max(0, Math.round(ms / 100) / 10) : undefined;
};

/**
 * A drill's report (issue 13 §3) from what its test failover did: per machine the boot time
 * (its job's start → the VM answered its probe), the RTO (drill start → that moment) and the
 * achieved RPO (drill start − the point's time: what a real failover at that moment would have
 * lost); the plan's RTO is the last machine's, and only when every machine came up healthy.
 * A drill succeeds when every machine was healthy and the cleanup left nothing behind.
 */
export function drillReport(input: {
  startedAt: string;
  endedAt: string;
  machines: readonly MachineOutcome[];
  health: Readonly<Record<string, DrillHealth | undefined>>;
  leftovers: readonly string[];
  cleanupFailed?: string;
}): Pick<
  DrillReportDoc,
  'machines' | 'rtoSeconds' | 'rpoSeconds' | 'leftovers' | 'state' | 'endedAt' | 'error'
> {
  const machines: DrillMachine[] = input.machines.map((m) => {
    const h = input.health[m.machineId];
    const healthy = m.state === 'succeeded' && h?.ok === true;
    const bootSeconds = seconds(m.startedAt, m.vm?.readyAt);
    // Up = its own probe passed in the test failover (readyAt); the drill's check confirms it.
    const rtoSeconds = healthy ? seconds(input.startedAt, m.vm?.readyAt ?? h.at) : undefined;
    const rpoSeconds = seconds(m.pointTime, input.startedAt);
    return {
      machineId: m.machineId,
      ...(m.pointId ? { pointId: m.pointId } : {}),
      ...(m.pointTime ? { pointTime: m.pointTime } : {}),
      ...(bootSeconds !== undefined ? { bootSeconds } : {}),
      ...(rtoSeconds !== undefined ? { rtoSeconds } : {}),
      ...(rpoSeconds !== undefined ? { rpoSeconds } : {}),
      health: healthy ? 'ok' : m.state === 'succeeded' && !h ? 'not-checked' : 'failed',
      ...(m.error ? { error: m.error } : !healthy && h?.detail ? { error: h.detail } : {}),
    };
  });
  const ok = machines.filter((m) => m.health === 'ok').length;
  const allOk = ok === machines.length && machines.length > 0;
  const rpos = machines.flatMap((m) => (m.rpoSeconds !== undefined ? [m.rpoSeconds] : []));
  const clean = input.leftovers.length === 0 && !input.cleanupFailed;
  return {
    machines,
    ...(allOk ? { rtoSeconds: Math.max(...machines.map((m) => m.rtoSeconds ?? 0)) } : {}),
    ...(rpos.length ? { rpoSeconds: Math.max(...rpos) } : {}),
    leftovers: [...input.leftovers],
    state: allOk && clean ? 'succeeded' : ok === 0 ? 'failed' : 'partially-succeeded',
    endedAt: input.endedAt,
    ...(input.cleanupFailed ? { error: `cleanup: ${input.cleanupFailed}` } : {}),
  };
}
