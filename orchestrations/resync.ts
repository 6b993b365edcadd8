import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';
import type { ResyncJobInput } from '../core/controlPlane/resyncJob';
import {
  EnableProtectionActivity as P,
  type UpdateJobInput,
} from './activities/enableProtectionActivities';
import type { ReplicaInput } from './activities/replicaActivities';
import {
  ResyncActivity as A,
  type ResyncCheck,
  type ResyncSettings,
} from './activities/resyncActivities';
import { CANCEL, INITIAL_SYNC_COMPLETE } from './enableProtection';
import { addMs } from './orchestrationTime';

/**
 * Resync of one disk (architecture §2 "Generations and resync"). The control plane already moved
 * the disk to generation N (the agent switches to it) and the item to `initial-sync`; this
 * saga creates generation N's fresh replica page blob (size = the disk's size now, fixed VHD
 * footer; the hydrator would create it too on its first batch), then waits until every
 * pending resync of the machine has its first recovery point and the item is `protected`
 * again. The data path's InitialSyncComplete (raised to the item's job on each point) wakes
 * it; a timer covers a missed one. Nothing to compensate: older generations stay readable
 * until retention drops them, and a superseded generation's replica goes the same way.
 */
export const RESYNC = 'resync';

export interface ResyncResult {
  state: 'resynced' | 'abandoned' | 'cancelled';
  replica: string;
}

export const resyncOrchestrator: OrchestrationHandler = function* (ctx: OrchestrationContext) {
  const input = ctx.df.getInput() as ResyncJobInput;
  const jobId = ctx.df.instanceId;
  const retry = new df.RetryOptions(500, 4);
  retry.backoffCoefficient = 2;
  retry.maxRetryIntervalInMilliseconds = 10_000;
  const call = (name: string, arg: unknown) => ctx.df.callActivityWithRetry(name, retry, arg);
  const job = (patch: Omit<UpdateJobInput, 'jobId'>) => call(P.updateJob, { jobId, ...patch });
  const cancel = ctx.df.waitForExternalEvent(CANCEL);

  /** Task.any that also sees a task completed before it was built (see enableProtection.ts). */
  function* firstOf(tasks: Task[]): Generator<Task, Task, unknown> {
    const done = tasks.find((t) => t.isCompleted || t.isFaulted);
    if (done) return done;
    return (yield ctx.df.Task.any(tasks)) as Task;
  }

  let replica = '';
  try {
    yield job({ state: 'running', percent: 10, step: 'resyncing' });
    const settings = (yield call(A.getSettings, {})) as ResyncSettings;
    const r: ReplicaInput = {
      machineId: input.machineId,
      diskId: input.diskId,
      sizeBytes: input.sizeBytes,
      generation: input.generation,
      owner: jobId,
      createdAt: ctx.df.currentUtcDateTime.toISOString(),
    };
    replica = ((yield call(P.createReplica, r)) as { blob: string }).blob;
    yield call(P.ensureStaging, {});
    yield job({ percent: 30, step: 'resyncing' });

    // One waiter at a time: a new one only once the previous event was consumed.
    let synced = ctx.df.waitForExternalEvent(INITIAL_SYNC_COMPLETE);
    for (;;) {
      const c = (yield call(A.check, { machineId: input.machineId, jobId })) as ResyncCheck;
      if (c.done) {
        const state =
          c.state === null || c.pending.includes(input.diskId) ? 'abandoned' : 'resynced';
        yield job({ state: 'succeeded', percent: 100, step: state, result: { state, replica } });
        return { state, replica } satisfies ResyncResult;
      }
      const timer = ctx.df.createTimer(addMs(ctx.df.currentUtcDateTime, settings.recheckMs));
      const winner = yield* firstOf([synced, cancel, timer]);
      if (winner !== timer) timer.cancel();
      if (winner === cancel) break;
      if (winner === synced) synced = ctx.df.waitForExternalEvent(INITIAL_SYNC_COMPLETE);
    }
    yield job({ state: 'cancelled', percent: 100, step: 'cancelled' });
    return { state: 'cancelled', replica } satisfies ResyncResult;
  } catch (e) {
    const message = String((e as Error)?.message ?? e).split('\n')[0]!;
    yield call(P.updateJob, {
      jobId,
      state: 'failed',
      percent: 100,
      step: 'failed',
      error: { kind: 'saga-failed', message },
    });
    throw e;
  }
};
