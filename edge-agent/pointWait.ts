import { HavenError } from '../core/errors';
import type { Log } from './agentTypes';
import type { ControlPlaneClient, RecoveryPoint } from './controlPlaneClient';
import { sleep } from './fsUtil';

/** Polls the control plane until the recovery point of bookmark `id` exists (or the time is up). */
export async function waitForRecoveryPoint(
  api: ControlPlaneClient,
  machineId: string,
  id: string,
  opts: { signal: AbortSignal; timeoutMs: number; log: Log },
): Promise<RecoveryPoint> {
  const { signal, timeoutMs } = opts;
  const until = Date.now() + timeoutMs;
  let wait = 250;
  while (!signal.aborted) {
    try {
      const p = await api.recoveryPoint(machineId, id);
      if (p) return p;
    } catch (e) {
      if (!(e instanceof HavenError) || !e.retryable) throw e;
      opts.log('waiting for the control plane', { error: e.message });
    }
    if (Date.now() > until)
      throw new HavenError(
        'transient',
        `Recovery point ${id} did not appear within ${Math.round(timeoutMs / 1000)} s.`,
      );
    await sleep(wait, signal);
    // A point normally lands within seconds of the last send; polling slowly there adds
    // straight to the RPO the user sees. Back off only once it is clearly late.
    wait = Date.now() > until - timeoutMs + 30_000 ? 2_000 : 250;
  }
  throw new HavenError('transient', 'Interrupted.');
}
