import type { InvocationContext } from '@azure/functions';
import { DECISION_SIGNAL_EVENT, type DecisionSignaller } from '../../core/alerts/alertIngest';
import type { JobLauncher } from '../../core/controlPlane/protection';
import { launcherFor } from '../controlPlane/durableLauncher';
import { eventsFor } from '../plans/durableEvents';

/** What alert ingest needs of Durable: start a decision, wake a running one. */
export function decisionPortsFor(context: InvocationContext): {
  launcher?: JobLauncher;
  signaller?: DecisionSignaller;
} {
  const events = eventsFor(context);
  const launcher = launcherFor(context);
  return {
    ...(launcher ? { launcher } : {}),
    ...(events
      ? { signaller: { signal: (id: string) => events.raise(id, DECISION_SIGNAL_EVENT, null) } }
      : {}),
  };
}
