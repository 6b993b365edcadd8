import type { Task } from 'durable-functions';
import type { DeployedVm } from '../core/recovery/model';
import { machineJobOf } from '../core/plans/planOperations';
import { BoundedQueue, type GroupRun } from '../core/plans/planRun';
import { groupStep, type PlanJobInput } from '../core/plans/planJobInput';
import type { MachineOutcome } from '../core/plans/planOutcome';
import { PlanActivity, type StartedMachine } from './activities/planActivities';
import type { Gen, PlanSaga } from './planSaga';
import { firstLine } from './sagaErrors';

/** What a machine's recovery saga returned that the plan shows. */
function outcomeOf(result: unknown): Partial<MachineOutcome> {
  const r = (result ?? {}) as { vm?: DeployedVm; pointId?: string };
  return {
    ...(r.pointId ? { pointId: r.pointId } : {}),
    ...(r.vm
      ? {
          pointTime: r.vm.pointTime,
          vm: {
            id: r.vm.vmId,
            ...(r.vm.privateIp ? { privateIp: r.vm.privateIp } : {}),
            ...(r.vm.publicIp ? { publicIp: r.vm.publicIp } : {}),
            readyAt: r.vm.readyAt,
          },
        }
      : {}),
  };
}

/**
 * Waits until every task has settled (succeeded or failed). The tasks are yielded together once
 * (with the job-control event, so a cancel is seen at once); after that each is yielded alone:
 * a task already scheduled must never go into a new Task.any/all, or the SDK schedules it again
 * (azure-functions-durable-js#574).
 */
function* settle(s: PlanSaga, tasks: Task[]): Gen<void> {
  if (!tasks.length) return;
  const all = s.ctx.df.Task.all(tasks);
  const r = yield* s.waitAny([all]);
  if (r.task === all && !all.isFaulted) return;
  if (!all.isCompleted && !all.isFaulted) {
    try {
      yield all; // an event came first: the tasks run on
      return;
    } catch {
      // one failed: wait for the rest one by one
    }
  }
  for (const t of tasks) {
    if (t.isCompleted || t.isFaulted) continue;
    try {
      yield t;
    } catch {
      // seen through isFaulted by the caller
    }
  }
}

/**
 * The machines of one group, in batches of at most `maxParallel`: each machine's recovery job is
 * created (an activity: the machine's own checks and claims), then run as a sub-orchestration
 * (the job id is its instance id, so the plan job is a tree of jobs). A machine that fails or is
 * refused does not stop the others. A cancel stops starting new batches; the machines already
 * started end on their own.
 */
export function* runGroup(s: PlanSaga, input: PlanJobInput, g: GroupRun): Gen<void> {
  const step = groupStep(g.id);
  const total = s.machines.size;
  yield s.job({
    stepName: step,
    steps: [{ name: step, state: 'running', startedAt: s.iso() }],
    result: s.progress(),
  });
  const q = new BoundedQueue(g.machines, input.maxParallel);
  const m = (id: string) => s.machines.get(id)!;
  const end = (id: string, patch: Partial<MachineOutcome>) =>
    Object.assign(m(id), patch, { endedAt: s.iso() });
  for (let batch = q.take(); batch.length && !s.seenCancel(); batch = q.take()) {
    const starts = batch.map((machineId) => {
      Object.assign(m(machineId), { state: 'running', startedAt: s.iso() });
      const point = input.points[machineId];
      return s.call(PlanActivity.startMachine, {
        planJobId: s.jobId,
        machineId,
        operation: machineJobOf[input.operation],
        ...(point ? { point } : {}),
        ...(input.planned ? { planned: true } : {}),
      });
    });
    yield* settle(s, starts);
    const subs: { id: string; task: Task }[] = [];
    starts.forEach((t, i) => {
      const id = batch[i]!;
      const started = t.result as StartedMachine;
      if (t.isFaulted) end(id, { state: 'failed', error: firstLine(t.result) });
      else if ('refused' in started) end(id, { state: 'failed', error: started.refused });
      else {
        m(id).jobId = started.jobId;
        subs.push({
          id,
          task: s.ctx.df.callSubOrchestrator(started.orchestration, started.input, started.jobId),
        });
      }
    });
    yield* settle(
      s,
      subs.map((x) => x.task),
    );
    for (const { id, task } of subs)
      end(
        id,
        task.isFaulted
          ? { state: 'failed', error: firstLine(task.result) }
          : { state: 'succeeded', ...outcomeOf(task.result) },
      );
    for (const _ of batch) q.done();
    const done = [...s.machines.values()].filter((x) =>
      ['succeeded', 'failed', 'skipped'].includes(x.state),
    ).length;
    yield s.job({ percent: Math.round((done / total) * 95), result: s.progress() });
  }
  for (const id of q.drain()) Object.assign(m(id), { state: 'skipped', note: 'cancelled' });
  const failed = g.machines.filter((id) => m(id).state !== 'succeeded');
  yield s.job({
    steps: [
      {
        name: step,
        state: failed.length ? 'failed' : 'succeeded',
        endedAt: s.iso(),
        ...(failed.length ? { detail: `not succeeded: ${failed.join(', ')}` } : {}),
      },
    ],
  });
}
