import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';
import {
  EnableProtectionActivity as A,
  type DiskToProtect,
  type ProtectionSettings,
  type UpdateJobInput,
} from './activities/enableProtectionActivities';
import type { ReplicaInput } from './activities/replicaActivities';
import { addMs } from './orchestrationTime';

/**
 * Enable protection of a machine (architecture §3, §5): create one replica page blob per protected
 * disk (its current generation: 1 unless resynced/resized before, fixed VHD footer), make sure staging exists, record the protected item,
 * move it to `initial-sync`, wait for the data path to report `InitialSyncComplete`, then mark
 * it `protected`. Every step pushes its compensation first; failure or a `Cancel` event runs
 * them in reverse, so a failed or cancelled saga leaves nothing behind (invariant 5).
 *
 * Initial-sync timeout: a slow first copy is not a failure (the data keeps flowing), so on
 * timeout the saga raises an alert, shows `initial-sync-stalled`, and keeps waiting; the sync
 * completing later still ends in `protected`. Only `Cancel` (disable) or an error ends it early.
 */
export const ENABLE_PROTECTION = 'enableProtection';
export const INITIAL_SYNC_COMPLETE = 'InitialSyncComplete';
export const CANCEL = 'Cancel';
/** Default wait for the initial sync before alerting (the launcher passes the configured one). */
export const DEFAULT_INITIAL_SYNC_TIMEOUT_MS = 24 * 3600 * 1000;

export interface EnableProtectionInput {
  machineId: string;
  disks: string[];
  policy: string;
  initialSyncTimeoutMs?: number;
}

export interface EnableProtectionStatus {
  step: string;
  percent: number;
  state?: string;
  replicas?: string[];
}

export interface EnableProtectionResult {
  state: 'protected' | 'cancelled';
  replicas: string[];
  stalled: boolean;
}

class Cancelled extends Error {
  constructor(readonly reason: unknown) {
    super('Enable protection was cancelled.');
  }
}

export const enableProtectionOrchestrator: OrchestrationHandler = function* (
  ctx: OrchestrationContext,
) {
  const input = ctx.df.getInput() as EnableProtectionInput;
  const jobId = ctx.df.instanceId;
  const at = () => ctx.df.currentUtcDateTime.toISOString();
  const retry = new df.RetryOptions(500, 4);
  retry.backoffCoefficient = 2;
  retry.maxRetryIntervalInMilliseconds = 10_000;
  const call = (name: string, arg: unknown) => ctx.df.callActivityWithRetry(name, retry, arg);
  const cancel = ctx.df.waitForExternalEvent(CANCEL);
  const undo: { name: string; input: unknown }[] = [];
  const status = (s: EnableProtectionStatus) => ctx.df.setCustomStatus(s);
  const job = (patch: Omit<UpdateJobInput, 'jobId'>) => call(A.updateJob, { jobId, ...patch });

  /**
   * Task.any over tasks of which one may already have completed. The SDK does not resolve a
   * new Task.any from children that completed before it was built (a buffered event, a Cancel
   * raised during an earlier step), so a completed one is returned without yielding.
   */
  function* firstOf(tasks: Task[]): Generator<Task, Task, unknown> {
    const done = tasks.find((t) => t.isCompleted || t.isFaulted);
    if (done) return done;
    return (yield ctx.df.Task.any(tasks)) as Task;
  }

  /** Runs a step unless Cancel wins; then waits for the step to settle so compensation sees all of it. */
  function* step(task: Task): Generator<Task, unknown, unknown> {
    if (cancel.isCompleted) throw new Cancelled(cancel.result); // the step is never scheduled
    const winner = yield* firstOf([task, cancel]);
    if (winner === cancel) {
      try {
        yield task;
      } catch {
        // the step's own failure no longer matters: we are compensating anyway
      }
      throw new Cancelled(cancel.result);
    }
    if (task.isFaulted) throw task.result;
    return task.result;
  }

  let replicas: string[] = [];
  let stalled = false;
  try {
    status({ step: 'starting', percent: 0 });
    yield* step(job({ state: 'running', percent: 0, step: 'starting' }));
    const [disks, settings] = (yield* step(
      ctx.df.Task.all([
        call(A.getDisks, { machineId: input.machineId, disks: input.disks }),
        call(A.getSettings, {}),
      ]),
    )) as [DiskToProtect[], ProtectionSettings];

    const replicaInputs: ReplicaInput[] = disks.map((d) => ({
      machineId: input.machineId,
      diskId: d.diskId,
      sizeBytes: d.sizeBytes,
      generation: d.generation ?? 1,
      owner: jobId,
      createdAt: at(),
    }));
    for (const r of replicaInputs) undo.push({ name: A.deleteReplica, input: r });
    status({ step: 'creating-replicas', percent: 10 });
    const created = (yield* step(
      ctx.df.Task.all(replicaInputs.map((r) => call(A.createReplica, r))),
    )) as { blob: string }[];
    replicas = created.map((c) => c.blob);
    yield* step(call(A.ensureStaging, {}));
    status({ step: 'replicas-created', percent: 30, replicas });
    yield* step(job({ percent: 30, step: 'replicas-created' }));

    undo.push({
      name: A.releaseItem,
      input: { machineId: input.machineId, jobId, reason: 'enable-protection compensated' },
    });
    yield* step(
      call(A.recordItem, {
        machineId: input.machineId,
        disks: input.disks,
        policy: input.policy,
        jobId,
        at: at(),
      }),
    );
    yield* step(
      call(A.setState, {
        machineId: input.machineId,
        jobId,
        to: 'initial-sync',
        from: ['enabling'],
      }),
    );
    status({ step: 'initial-sync', percent: 50, state: 'initial-sync', replicas });
    yield* step(job({ percent: 50, step: 'initial-sync' }));

    const timeoutMs =
      input.initialSyncTimeoutMs ??
      settings.initialSyncTimeoutMs ??
      DEFAULT_INITIAL_SYNC_TIMEOUT_MS;
    const synced = ctx.df.waitForExternalEvent(INITIAL_SYNC_COMPLETE);
    const timer = ctx.df.createTimer(addMs(ctx.df.currentUtcDateTime, timeoutMs));
    let winner = yield* firstOf([synced, cancel, timer]);
    if (winner === timer) {
      stalled = true;
      yield* step(
        call(A.raiseAlert, {
          machineId: input.machineId,
          jobId,
          kind: 'initial-sync-stalled',
          message: `Initial sync of machine '${input.machineId}' has not completed within ${Math.round(timeoutMs / 1000)} s.`,
          at: at(),
        }),
      );
      yield* step(
        call(A.setState, {
          machineId: input.machineId,
          jobId,
          to: 'initial-sync-stalled',
          from: ['initial-sync'],
        }),
      );
      status({
        step: 'initial-sync-stalled',
        percent: 50,
        state: 'initial-sync-stalled',
        replicas,
      });
      yield* step(job({ percent: 50, step: 'initial-sync-stalled' }));
      winner = yield* firstOf([synced, cancel]);
    } else timer.cancel();
    if (winner === cancel) throw new Cancelled(cancel.result);

    if (stalled) {
      yield* step(
        call(A.setState, {
          machineId: input.machineId,
          jobId,
          to: 'initial-sync',
          from: ['initial-sync-stalled'],
        }),
      );
    }
    yield* step(
      call(A.setState, {
        machineId: input.machineId,
        jobId,
        to: 'protected',
        from: ['initial-sync'],
      }),
    );
    const result: EnableProtectionResult = { state: 'protected', replicas, stalled };
    status({ step: 'protected', percent: 100, state: 'protected', replicas });
    yield call(A.updateJob, {
      jobId,
      state: 'succeeded',
      percent: 100,
      step: 'protected',
      result: { ...result },
    });
    return result;
  } catch (e) {
    const cancelled = e instanceof Cancelled;
    status({ step: 'compensating', percent: 100, replicas });
    const failures: string[] = [];
    for (const u of undo.reverse()) {
      try {
        yield call(u.name, u.input);
      } catch (ce) {
        failures.push(`${u.name}: ${firstLine(ce)}`);
      }
    }
    const message = cancelled ? 'Cancelled by request.' : firstLine(e);
    status({ step: cancelled ? 'cancelled' : 'failed', percent: 100 });
    yield call(A.updateJob, {
      jobId,
      state: cancelled ? 'cancelled' : 'failed',
      percent: 100,
      step: cancelled ? 'cancelled' : 'failed',
      ...(cancelled ? {} : { error: { kind: 'saga-failed', message } }),
      ...(failures.length ? { result: { compensationFailures: failures } } : {}),
    });
    if (cancelled)
      return { state: 'cancelled', replicas: [], stalled } satisfies EnableProtectionResult;
    throw e;
  }
};

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}
