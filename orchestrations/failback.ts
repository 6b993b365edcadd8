import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { Step, type RecoveryJobInput } from '../core/recovery/operations';
import type { VmInstanceView } from '../core/recovery/ports';
import type { siteStatus } from '../core/failback/failbackRecord';
import {
  FailbackActivity as F,
  type BegunSession,
  type ShipInput,
} from './activities/failbackActivities';
import { ArmActivity } from './activities/armActivities';
import { RecoveryActivity as A } from './activities/recoveryActivities';
import type { OperationHandle } from '../core/recovery/ports';
import { snapshotAndShip } from './failbackDiff';
import { runRecoverySaga, type Gen, type RecoverySaga } from './recoverySaga';
import { SagaCancelled } from './sagaErrors';

/**
 * Failback (reprotected → failing-back → failed-back), planned: the Azure VM is powered off
 * (its writes end), the final diff is shipped, and the saga waits until the site agent has
 * applied every reverse batch and reported the site disk's digest equal to the Azure disk's.
 * Failing before that (or the agent never reporting within the wait, or an operator's cancel
 * before the site took over) starts the Azure VM again and returns the machine to
 * `reprotected`: the batches shipped stay listed, so the site never has to undo anything.
 */
export const FAILBACK = 'failback';

/** How long the saga waits for the site to apply the final diff before giving up. */
export const SITE_APPLY_WAIT_MS = 2 * 3600_000;
/** How long the Azure VM may still read running after its power-off operation ended. */
export const POWER_OFF_WAIT_MS = 10 * 60_000;

export const failbackOrchestrator: OrchestrationHandler = function* (ctx: OrchestrationContext) {
  return yield* runRecoverySaga<RecoveryJobInput>(
    ctx,
    function* (s, input) {
      const { machineId } = input;
      // The session reprotect opened (begin is idempotent on it).
      const session = (yield s.call(F.begin, {
        machineId,
        jobId: s.jobId,
        existing: true,
      })) as BegunSession;
      yield* s.step(Step.powerOff, function* () {
        s.undo.push({
          kind: 'call',
          name: ArmActivity.beginVmAction,
          input: { id: session.vmId, action: 'start' },
        });
        yield* powerOff(s, session.vmId);
      });
      s.undo.push({ kind: 'call', name: F.unfinal, input: { machineId } });
      const disks = yield* s.step(
        Step.finalDiff,
        () => snapshotAndShip(s, input, session, 'final', true),
        40,
      );
      yield* s.step(Step.siteApply, () => waitForSite(s, input, disks), 60);
      yield* s.step(Step.record, function* () {
        yield s.call(A.setState, {
          machineId,
          jobId: s.jobId,
          to: 'failed-back',
          from: ['failing-back'],
          reason: 'failed back: the site disk equals the Azure disk',
        });
      });
      return {
        result: { session: session.session, disks },
        stepName: 'failed-back',
        allowedActions: ['reenable'],
      };
    },
    function* (s, { machineId }) {
      yield s.call(A.setState, {
        machineId,
        jobId: s.jobId,
        to: 'reprotected',
        from: ['failing-back'],
        reason: 'failback did not complete; the Azure VM runs again',
      });
    },
  );
};

/**
 * Powers the Azure VM off and waits until it reads stopped: nothing may write its disks once the
 * final diff is cut. A VM that still runs long after its power-off fails the step (and the
 * compensation starts it again) instead of holding the job.
 */
function* powerOff(s: RecoverySaga, vmId: string): Gen<void> {
  const handle = (yield s.call(ArmActivity.beginVmAction, {
    id: vmId,
    action: 'powerOff',
  })) as OperationHandle;
  yield* s.until(handle);
  const since = s.now().getTime();
  const deadline = since + POWER_OFF_WAIT_MS;
  for (;;) {
    const v = (yield s.call(ArmActivity.instanceView, { id: vmId })) as VmInstanceView | null;
    if (!v || v.powerState === 'stopped' || v.powerState === 'deallocated') return;
    if (s.now().getTime() >= deadline) {
      throw new Error(
        `The Azure VM still reads '${v.powerState}' ${POWER_OFF_WAIT_MS / 60_000} min after its power-off.`,
      );
    }
    // Polled at the saga's pace for half a minute, then every 10 s (ARM reads are throttled).
    yield* s.sleep(s.now().getTime() - since < 30_000 ? s.facts.pollMs : 10_000);
  }
}

/**
 * Until every disk is applied on the site with the Azure disk's digest. A disk whose site copy
 * still differs after the final diff (a lost range, a write behind Haven's back) names its
 * differing blocks; they are shipped again from the final snapshot and the site applies them.
 */
function* waitForSite(
  s: RecoverySaga,
  input: RecoveryJobInput,
  shipped: { diskId: string; snapshotId: string }[],
): Gen<void> {
  const { machineId } = input;
  const deadline = s.now().getTime() + SITE_APPLY_WAIT_MS;
  for (;;) {
    const st = (yield s.call(F.status, { machineId })) as ReturnType<typeof siteStatus>;
    if (st.done) return;
    if (st.cancel) throw new SagaCancelled('Failback cancelled by an operator.');
    for (const d of st.disks.filter((x) => x.repair)) {
      const snapshotId = shipped.find((x) => x.diskId === d.diskId)!.snapshotId;
      yield s.call(F.ship, {
        machineId,
        key: `${s.jobId}/repair-${d.repair!.n}/${d.diskId}`,
        diskId: d.diskId,
        snapshotId,
        final: true,
        ranges: d.repair!.ranges,
        repair: d.repair!.n,
      } satisfies ShipInput);
    }
    if (s.now().getTime() >= deadline)
      throw new Error('The site agent did not apply the final diff in time.');
    yield* s.sleep(Math.max(s.facts.pollMs, 1000));
  }
}
