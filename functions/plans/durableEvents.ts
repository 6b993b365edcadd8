import * as df from 'durable-functions';
import type { InvocationContext } from '@azure/functions';
import type { JobEvents } from '../../core/plans/jobControl';
import { transient } from '../../core/errors';
import { durableClientInput } from '../controlPlane/durableLauncher';

/**
 * Events raised on orchestration instances through this invocation's durable client, or
 * undefined when none is bound (a handler called directly).
 */
export function eventsFor(context: InvocationContext): JobEvents | undefined {
  if (!context.extraInputs.get(durableClientInput)) return undefined;
  const client = df.getClient(context);
  return {
    async raise(instanceId, event, data) {
      await client.raiseEvent(instanceId, event, data).catch((e: unknown) => {
        throw transient(`Could not raise '${event}' on the job's orchestration.`, e);
      });
    },
  };
}
