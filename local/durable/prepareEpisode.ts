import { EventType, type HistoryEvent } from './history';
import {
  type EngineState,
  type Prepared,
  type EpisodeContext,
  ev,
  clone,
  retryDelayMs,
  subInstanceId,
} from './engineState';

/**
 * The orchestration state machine of the backend, free of I/O: given an instance's history,
 * its bookkeeping and the messages that arrived, it builds the next episode's history, and
 * given the SDK's reply it decides what to schedule. The driver persists what this returns.
 *
 * Sequence numbers must match what the SDK assigns (TaskOrchestrationExecutor.trackOpenTask):
 * every activity, timer and sub-orchestration takes the next id in the order the actions are
 * yielded (WhenAll/WhenAny children left to right); external-event waits take none. A retried
 * call (CallActivityWithRetry) takes one id per attempt and one per retry timer, allocated when
 * the SDK replays the failure / the timer; this engine therefore puts retry-related completions
 * first in an episode and allocates their ids before any new action of the same episode.
 */

/** Builds the episode's new events from the arrived messages; allocates retry ids first. */
export function prepareEpisode(ctx: EpisodeContext): Prepared {
  const state = clone(ctx.state);
  const now = ctx.now;
  const out: Prepared = { state, newEvents: [], scheduledEvents: [], work: [], runSdk: false };
  const retryGroup: HistoryEvent[] = [];
  const others: HistoryEvent[] = [];
  let started = ctx.history.some((e) => e.EventType === EventType.ExecutionStarted);

  const terminate = ctx.messages.find((m) => m.kind === 'terminate');
  if (terminate && terminate.kind === 'terminate') {
    out.terminated = terminate.reason;
    out.newEvents.push(ev(EventType.OrchestratorStarted, -1, now));
    out.newEvents.push(
      ev(EventType.ExecutionTerminated, -1, now, { Input: JSON.stringify(terminate.reason) }),
    );
    return out;
  }

  const startEvents: HistoryEvent[] = [];
  for (const m of ctx.messages) {
    switch (m.kind) {
      case 'start':
        if (!started && m.executionId === ctx.executionId) {
          started = true;
          out.started = { name: m.name, input: m.input, parent: m.parent };
          startEvents.push(
            ev(EventType.ExecutionStarted, -1, now, {
              Name: m.name,
              Version: '',
              Input: m.input ?? null,
              OrchestrationInstance: { InstanceId: ctx.instanceId, ExecutionId: ctx.executionId },
              ParentInstance: m.parent
                ? {
                    Name: null,
                    OrchestrationInstance: {
                      InstanceId: m.parent.instanceId,
                      ExecutionId: m.parent.executionId,
                    },
                    TaskScheduleId: m.parent.taskId,
                  }
                : null,
            }),
          );
        }
        break;
      case 'event':
        others.push(ev(EventType.EventRaised, -1, now, { Name: m.name, Input: m.input ?? null }));
        break;
      case 'taskCompleted':
      case 'taskFailed':
      case 'subCompleted':
      case 'subFailed': {
        if (m.executionId !== ctx.executionId) break;
        const isTask = m.kind === 'taskCompleted' || m.kind === 'taskFailed';
        const open = state.open[m.taskId];
        if (!open || open.kind !== (isTask ? 'activity' : 'sub')) break; // duplicate or stale delivery
        delete state.open[m.taskId];
        if (m.kind === 'taskCompleted' || m.kind === 'subCompleted') {
          const type = isTask
            ? EventType.TaskCompleted
            : EventType.SubOrchestrationInstanceCompleted;
          const e = ev(type, -1, now, { TaskScheduledId: m.taskId, Result: m.result });
          (open.retryLeaf !== undefined ? retryGroup : others).push(e);
          if (open.retryLeaf !== undefined) delete state.retries[open.retryLeaf];
        } else {
          const type = isTask ? EventType.TaskFailed : EventType.SubOrchestrationInstanceFailed;
          const e = ev(type, -1, now, {
            TaskScheduledId: m.taskId,
            Reason: m.reason,
            Details: m.details,
          });
          if (open.retryLeaf !== undefined) {
            retryGroup.push(e);
            scheduleRetryTimer(state, open.retryLeaf, now, out);
          } else others.push(e);
        }
        break;
      }
      case 'timerFired': {
        if (m.executionId !== ctx.executionId) break;
        const open = state.open[m.timerId];
        if (!open || (open.kind !== 'timer' && open.kind !== 'retryTimer')) break;
        delete state.open[m.timerId];
        const e = ev(EventType.TimerFired, -1, now, { TimerId: m.timerId, FireAt: m.fireAt });
        if (open.kind === 'retryTimer' && open.retryLeaf !== undefined) {
          retryGroup.push(e);
          scheduleRetryAttempt(state, ctx.instanceId, open.retryLeaf, now, out);
        } else others.push(e);
        break;
      }
    }
  }
  if (!started) return out; // messages for an execution that has not started: nothing to run
  out.newEvents.push(
    ev(EventType.OrchestratorStarted, -1, now),
    ...startEvents,
    ...retryGroup,
    ...others,
  );
  out.runSdk = true;
  return out;
}

function scheduleRetryTimer(state: EngineState, leaf: number, now: Date, out: Prepared): void {
  const r = state.retries[leaf];
  if (!r) return;
  const fireAt = new Date(now.getTime() + retryDelayMs(r.opts, r.attempt)).toISOString();
  r.attempt++;
  const id = state.nextId++;
  state.open[id] = { kind: 'retryTimer', retryLeaf: leaf };
  out.scheduledEvents.push(ev(EventType.TimerCreated, id, now, { FireAt: fireAt }));
  out.work.push({ kind: 'timer', timerId: id, fireAt });
}

function scheduleRetryAttempt(
  state: EngineState,
  instanceId: string,
  leaf: number,
  now: Date,
  out: Prepared,
): void {
  const r = state.retries[leaf];
  if (!r) return;
  if (r.attempt > r.opts.maxNumberOfAttempts) {
    delete state.retries[leaf]; // the SDK fails the task when it replays this timer
    return;
  }
  const id = state.nextId++;
  state.open[id] = { kind: r.kind, name: r.name, retryLeaf: leaf };
  if (r.kind === 'activity') {
    out.scheduledEvents.push(
      ev(EventType.TaskScheduled, id, now, { Name: r.name, Version: '', Input: r.input ?? null }),
    );
    out.work.push({ kind: 'activity', taskId: id, name: r.name, input: r.input });
  } else {
    const child = r.instanceId ?? subInstanceId(instanceId, id);
    out.scheduledEvents.push(
      ev(EventType.SubOrchestrationInstanceCreated, id, now, {
        Name: r.name,
        Version: '',
        InstanceId: child,
        Input: r.input ?? null,
      }),
    );
    out.work.push({
      kind: 'startSub',
      taskId: id,
      instanceId: child,
      name: r.name,
      input: r.input,
    });
  }
}
