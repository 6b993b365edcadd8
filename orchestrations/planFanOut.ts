import type { Task } from 'durable-functions';
import type { DeployedVm } from '../core/recovery/model';
import { machineJobOf } from '../core/plans/planOperations';
import { BoundedQueue, type GroupRun } from '../core/plans/planRun';
import { groupStep, type PlanJobInput } from '../core/plans/planService';
import type { MachineOutcome } from '../core/plans/planOutcome';
import { PlanActivity, type StartedMachine } from './activities/planActivities';
import type { Gen, PlanSaga } from './planSaga';
import { firstLine } from './recoverySaga';

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
 * The machines of one group, in parallel with at most `maxParallel` running: each machine's
 * recovery job is created (an activity: the machine's own checks and claims), then run as a
 * sub-orchestration (the job id is its instance id, so the plan job is a tree of jobs). A
 * machine that fails or is refused does not stop the others. A cancel stops starting new
 * machines; those already running end on their own.
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
  const running = new Map<Task, { machineId: string; phase: 'start' | 'run' }>();
  const m = (id: string) => s.machines.get(id)!;
  const end = (id: string, patch: Partial<MachineOutcome>) => {
    Object.assign(m(id), patch, { endedAt: s.iso() });
    q.done();
  };
  const launch = () => {
    for (const machineId of q.take()) {
      Object.assign(m(machineId), { state: 'running', startedAt: s.iso() });
      const point = input.points[machineId];
      const task = s.call(PlanActivity.startMachine, {
        planJobId: s.jobId,
        machineId,
        operation: machineJobOf[input.operation],
        ...(point ? { point } : {}),
        ...(input.planned ? { planned: true } : {}),
      });
      running.set(task, { machineId, phase: 'start' });
    }
  };
  launch();
  while (running.size) {
    const r = yield* s.waitAny([...running.keys()]);
    if (r.event) {
      if (s.cancelled)
        for (const id of q.drain()) Object.assign(m(id), { state: 'skipped', note: 'cancelled' });
      continue;
    }
    for (const [t, info] of [...running]) {
      if (!t.isCompleted && !t.isFaulted) continue;
      running.delete(t);
      const id = info.machineId;
      if (info.phase === 'start') {
        const started = t.result as StartedMachine;
        if (t.isFaulted) end(id, { state: 'failed', error: firstLine(t.result) });
        else if ('refused' in started) end(id, { state: 'failed', error: started.refused });
        else {
          m(id).jobId = started.jobId;
          const sub = s.ctx.df.callSubOrchestrator(
            started.orchestration,
            started.input,
            started.jobId,
          );
          running.set(sub, { machineId: id, phase: 'run' });
        }
      } else if (t.isFaulted) end(id, { state: 'failed', error: firstLine(t.result) });
      else end(id, { state: 'succeeded', ...outcomeOf(t.result) });
    }
    if (!s.cancelled) launch();
    const done = [...s.machines.values()].filter((x) =>
      ['succeeded', 'failed', 'skipped'].includes(x.state),
    ).length;
    yield s.job({ percent: Math.round((done / total) * 95), result: s.progress() });
  }
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
