import * as df from 'durable-functions';
import type { InvocationContext } from '@azure/functions';
import type { Root } from '../../app/root';
import type { ProtectionSignals } from '../../core/replication/ports';

/** The durable client input of the hydrate trigger (it signals the enable-protection saga). */
export const hydrateDurableClient = df.input.durableClient();

/** The saga's external event (orchestrations/enableProtection.ts INITIAL_SYNC_COMPLETE); a string here so triggers do not load saga code. */
const INITIAL_SYNC_COMPLETE = 'InitialSyncComplete';
// 'enabling' too: an event raised before the saga waits for it is kept until it does.
const WAITING = new Set(['enabling', 'initial-sync', 'initial-sync-stalled']);

/**
 * Signals over this invocation's durable client, or undefined when none is bound. A machine in
 * initial sync becomes protected at its first complete recovery point: the saga (instance id =
 * job id) gets InitialSyncComplete. A failed raise is only logged: every later point retries
 * it while the item still waits.
 */
export function signalsFor(root: Root, context: InvocationContext): ProtectionSignals | undefined {
  if (!context.extraInputs.get(hydrateDurableClient)) return undefined;
  const client = df.getClient(context);
  return {
    async pointPublished(machineId, point) {
      const item = await root.controlPlane.protectedItems.find(machineId);
      if (!item || !WAITING.has(item.doc.state)) return;
      try {
        await client.raiseEvent(item.doc.jobId, INITIAL_SYNC_COMPLETE, {
          pointId: point.id,
          disks: point.disks,
        });
      } catch (e) {
        context.warn(`InitialSyncComplete for ${machineId} not delivered: ${(e as Error).message}`);
      }
    },
  };
}
