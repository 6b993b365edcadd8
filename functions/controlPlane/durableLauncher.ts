import * as df from 'durable-functions';
import type { InvocationContext } from '@azure/functions';
import type { JobCanceller, JobLauncher } from '../../core/controlPlane/protection';
import { ENABLE_PROTECTION_JOB } from '../../core/controlPlane/protection';
import { RESYNC_JOB } from '../../core/controlPlane/resyncJob';
import { recoveryOrchestrationForJob } from '../../core/recovery/operations';
import { planOrchestrationForJob } from '../../core/plans/planOperations';
import { transient } from '../../core/errors';

/** The durable client input for triggers that start or cancel jobs. */
export const durableClientInput = df.input.durableClient();

/**
 * Orchestration for each job type. Names are the sagas' registered names (orchestrations/);
 * kept as strings here so the control plane does not load saga code.
 */
export const orchestrationForJob: Record<string, string> = {
  [ENABLE_PROTECTION_JOB]: 'enableProtection',
  [RESYNC_JOB]: 'resync',
  ...recoveryOrchestrationForJob,
  ...planOrchestrationForJob,
};

/** The external event a saga handles by running its compensations (orchestrations/ `CANCEL`). */
export const CANCEL_EVENT = 'Cancel';

const live = new Set(['Pending', 'Running', 'ContinuedAsNew', 'Suspended']);

type Client = ReturnType<typeof df.getClient>;

/** The instance's runtime status, or undefined when there is no such instance. */
async function runtimeStatus(client: Client, instanceId: string): Promise<string | undefined> {
  try {
    return String((await client.getStatus(instanceId)).runtimeStatus);
  } catch (e) {
    if (/HTTP 404/.test((e as Error).message)) return undefined;
    throw transient('Durable Functions is unavailable.', e);
  }
}

/** This invocation's durable client, or undefined when none is bound (handler called directly). */
const clientOf = (context: InvocationContext): Client | undefined =>
  context.extraInputs.get(durableClientInput) ? df.getClient(context) : undefined;

/**
 * A launcher over this invocation's durable client, or undefined when no client is bound
 * (handler called directly, a host without the Durable extension): jobs then stay queued.
 * Starting is idempotent: instance id = job id, and an existing instance is left alone.
 */
export function launcherFor(context: InvocationContext): JobLauncher | undefined {
  const client = clientOf(context);
  if (!client) return undefined;
  return {
    async start(job, input) {
      const name = orchestrationForJob[job.type];
      if (!name) throw new Error(`No orchestration for job type '${job.type}'.`);
      if ((await runtimeStatus(client, job.instanceId)) !== undefined) return; // already started
      await client.startNew(name, { instanceId: job.instanceId, input }).catch((e: unknown) => {
        throw transient('Could not start the job orchestration.', e);
      });
    },
  };
}

/** Raises `Cancel` on a job's live instance through this invocation's durable client. */
export function cancellerFor(context: InvocationContext): JobCanceller | undefined {
  const client = clientOf(context);
  if (!client) return undefined;
  return {
    async cancel(job, reason) {
      const status = await runtimeStatus(client, job.instanceId);
      if (status === undefined || !live.has(status)) return false;
      await client.raiseEvent(job.instanceId, CANCEL_EVENT, reason).catch((e: unknown) => {
        throw transient('Could not cancel the job orchestration.', e);
      });
      return true;
    },
  };
}
