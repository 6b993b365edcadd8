import * as df from 'durable-functions';
import type { InvocationContext } from '@azure/functions';
import type { JobLauncher } from '../../core/controlPlane/protection';
import { ENABLE_PROTECTION_JOB } from '../../core/controlPlane/protection';
import { transient } from '../../core/errors';

/** The durable client input for triggers that start jobs. */
export const durableClientInput = df.input.durableClient();

/**
 * Orchestration for each job type. Names are the sagas' registered names (orchestrations/);
 * kept as strings here so the control plane does not load saga code.
 */
export const orchestrationForJob: Record<string, string> = {
  [ENABLE_PROTECTION_JOB]: 'enableProtection',
};

/**
 * A launcher over this invocation's durable client, or undefined when no client is bound
 * (handler called directly, a host without the Durable extension): jobs then stay queued.
 * Starting is idempotent: instance id = job id, and an existing instance is left alone.
 */
export function launcherFor(context: InvocationContext): JobLauncher | undefined {
  if (!context.extraInputs.get(durableClientInput)) return undefined;
  const client = df.getClient(context);
  return {
    async start(job, input) {
      const name = orchestrationForJob[job.type];
      if (!name) throw new Error(`No orchestration for job type '${job.type}'.`);
      try {
        await client.getStatus(job.instanceId);
        return; // already started
      } catch (e) {
        if (!/HTTP 404/.test((e as Error).message))
          throw transient('Durable Functions is unavailable.', e);
      }
      await client.startNew(name, { instanceId: job.instanceId, input }).catch((e: unknown) => {
        throw transient('Could not start the job orchestration.', e);
      });
    },
  };
}
