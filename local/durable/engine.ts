import {
  ActionType,
  ActionTypeName,
  EventType,
  actionInputJson,
  flattenActions,
  type ActionWire,
  type HistoryEvent,
  type OrchestratorStateWire,
  type RetryOptionsWire,
} from './history';

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

export interface ParentRef {
  instanceId: string;
  executionId: string;
  taskId: number;
}

export type InboxMessage =
  | { kind: 'start'; executionId: string; name: string; input?: string; parent?: ParentRef }
  | { kind: 'event'; name: string; input?: string }
  | { kind: 'taskCompleted'; executionId: string; taskId: number; result: string | null }
  | { kind: 'taskFailed'; executionId: string; taskId: number; reason: string; details: string }
  | { kind: 'timerFired'; executionId: string; timerId: number; fireAt: string }
  | { kind: 'subCompleted'; executionId: string; taskId: number; result: string | null }
  | { kind: 'subFailed'; executionId: string; taskId: number; reason: string; details: string }
  | { kind: 'terminate'; reason: string };

export interface OpenTask {
  kind: 'activity' | 'timer' | 'sub' | 'retryTimer';
  name?: string;
  /** Leaf index of the retryable call this id belongs to. */
  retryLeaf?: number;
}

export interface RetryState {
  kind: 'activity' | 'sub';
  name: string;
  input?: string;
  instanceId?: string;
  opts: RetryOptionsWire;
  /** Number of the attempt that runs next (1 = first). */
  attempt: number;
}

export interface EngineState {
  nextId: number;
  /** Signature of every action leaf seen so far, in order (non-determinism check). */
  leaves: string[];
  /** Sequence id of each leaf (null for external-event waits and continue-as-new). */
  leafIds: (number | null)[];
  open: Record<string, OpenTask>;
  retries: Record<string, RetryState>;
  canceledTimers: number[];
}

export function newEngineState(): EngineState {
  return { nextId: 0, leaves: [], leafIds: [], open: {}, retries: {}, canceledTimers: [] };
}

export type WorkItem =
  | { kind: 'activity'; taskId: number; name: string; input?: string }
  | { kind: 'timer'; timerId: number; fireAt: string }
  | { kind: 'startSub'; taskId: number; instanceId: string; name: string; input?: string };

export interface Prepared {
  state: EngineState;
  /** Events the SDK sees as new in this episode (OrchestratorStarted first). */
  newEvents: HistoryEvent[];
  /** Scheduling events produced by retry bookkeeping (appended after the SDK's own). */
  scheduledEvents: HistoryEvent[];
  work: WorkItem[];
  /** Set when a terminate message ends the instance in this episode. */
  terminated?: string;
  /** A start message for a fresh execution. */
  started?: { name: string; input?: string; parent?: ParentRef };
  runSdk: boolean;
}

export interface EpisodeContext {
  instanceId: string;
  executionId: string;
  name: string;
  state: EngineState;
  /** History of the current execution so far. */
  history: HistoryEvent[];
  messages: InboxMessage[];
  now: Date;
}

export function ev(
  type: number,
  eventId: number,
  now: Date,
  fields: Record<string, unknown> = {},
): HistoryEvent {
  return {
    EventType: type,
    EventId: eventId,
    IsPlayed: false,
    Timestamp: now.toISOString(),
    ...fields,
  };
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

export function retryDelayMs(opts: RetryOptionsWire, failedAttempt: number): number {
  const coefficient =
    opts.backoffCoefficient && opts.backoffCoefficient > 0 ? opts.backoffCoefficient : 1;
  let delay = opts.firstRetryIntervalInMilliseconds * Math.pow(coefficient, failedAttempt - 1);
  if (opts.maxRetryIntervalInMilliseconds && opts.maxRetryIntervalInMilliseconds > 0) {
    delay = Math.min(delay, opts.maxRetryIntervalInMilliseconds);
  }
  return Math.max(0, delay);
}

export function subInstanceId(parentInstanceId: string, taskId: number): string {
  return `${parentInstanceId}:${taskId.toString(16).toUpperCase().padStart(4, '0')}`;
}

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

export function actionSignature(a: ActionWire): string {
  const t = ActionTypeName[a.actionType] ?? String(a.actionType);
  switch (a.actionType) {
    case ActionType.CallActivity:
    case ActionType.CallActivityWithRetry:
    case ActionType.CallSubOrchestrator:
    case ActionType.CallSubOrchestratorWithRetry:
      return `${t}:${a.functionName ?? ''}`;
    case ActionType.WaitForExternalEvent:
      return `${t}:${a.externalEventName ?? ''}`;
    default:
      return t;
  }
}

export type Outcome =
  | { kind: 'running' }
  | { kind: 'completed'; output: string | null }
  | { kind: 'failed'; output: string; reason: string; details: string }
  | { kind: 'continueAsNew'; input?: string };

export interface Applied {
  state: EngineState;
  /** Events to append after the SDK's new events (scheduling, completion, OrchestratorCompleted). */
  events: HistoryEvent[];
  work: WorkItem[];
  outcome: Outcome;
  customStatus?: unknown;
}

export class NonDeterminismError extends Error {}

/**
 * Applies the SDK's reply. `failure` is set when the orchestrator threw (the SDK's
 * OrchestrationFailureError carries the state after `$OutOfProcData$:`).
 */
export function applyResult(
  ctx: { instanceId: string; name: string; now: Date },
  prepared: Prepared,
  reply: OrchestratorStateWire | undefined,
  failure?: string,
): Applied {
  const state = clone(prepared.state);
  const now = ctx.now;
  const events: HistoryEvent[] = [...prepared.scheduledEvents];
  const work: WorkItem[] = [...prepared.work];
  const fail = (message: string): Applied => {
    const output = `Orchestrator function '${ctx.name}' failed: ${message}`;
    events.length = 0;
    work.length = 0;
    events.push(...prepared.scheduledEvents);
    events.push(
      ev(EventType.ExecutionCompleted, -1, now, {
        OrchestrationStatus: 'Failed',
        Result: JSON.stringify(output),
        FailureDetails: { ErrorType: 'Error', ErrorMessage: message },
      }),
      ev(EventType.OrchestratorCompleted, -1, now),
    );
    return {
      state,
      events,
      work: [],
      outcome: { kind: 'failed', output, reason: output, details: message },
      customStatus: reply?.customStatus,
    };
  };

  const actions = flattenActions(reply?.actions ?? []);
  for (let i = 0; i < Math.min(actions.length, state.leaves.length); i++) {
    const sig = actionSignature(actions[i]!);
    if (sig !== state.leaves[i]) {
      return fail(
        `Non-deterministic workflow detected: action #${i} was '${state.leaves[i]}' in the history ` +
          `but the orchestrator now schedules '${sig}'. Orchestrator code must be deterministic; ` +
          `changing it while instances are in flight breaks their replay.`,
      );
    }
    const a = actions[i]!;
    const id = state.leafIds[i];
    if (
      a.actionType === ActionType.CreateTimer &&
      a.isCanceled &&
      id !== null &&
      id !== undefined
    ) {
      if (!state.canceledTimers.includes(id)) state.canceledTimers.push(id);
    }
  }
  if (failure !== undefined) return fail(failure);

  let continueAsNew: ActionWire | undefined;
  for (let i = state.leaves.length; i < actions.length; i++) {
    const a = actions[i]!;
    const sig = actionSignature(a);
    state.leaves.push(sig);
    switch (a.actionType) {
      case ActionType.CallActivity:
      case ActionType.CallActivityWithRetry: {
        const id = state.nextId++;
        state.leafIds.push(id);
        const input = actionInputJson(a.input);
        const name = a.functionName ?? '';
        if (a.actionType === ActionType.CallActivityWithRetry && a.retryOptions) {
          state.retries[i] = { kind: 'activity', name, input, opts: a.retryOptions, attempt: 1 };
          state.open[id] = { kind: 'activity', name, retryLeaf: i };
        } else state.open[id] = { kind: 'activity', name };
        events.push(
          ev(EventType.TaskScheduled, id, now, { Name: name, Version: '', Input: input ?? null }),
        );
        work.push({ kind: 'activity', taskId: id, name, input });
        break;
      }
      case ActionType.CallSubOrchestrator:
      case ActionType.CallSubOrchestratorWithRetry: {
        const id = state.nextId++;
        state.leafIds.push(id);
        const name = a.functionName ?? '';
        const input = a.input === undefined ? undefined : JSON.stringify(a.input);
        const child = a.instanceId || subInstanceId(ctx.instanceId, id);
        if (a.actionType === ActionType.CallSubOrchestratorWithRetry && a.retryOptions) {
          state.retries[i] = {
            kind: 'sub',
            name,
            input,
            instanceId: a.instanceId || undefined,
            opts: a.retryOptions,
            attempt: 1,
          };
          state.open[id] = { kind: 'sub', name, retryLeaf: i };
        } else state.open[id] = { kind: 'sub', name };
        events.push(
          ev(EventType.SubOrchestrationInstanceCreated, id, now, {
            Name: name,
            Version: '',
            InstanceId: child,
            Input: input ?? null,
          }),
        );
        work.push({ kind: 'startSub', taskId: id, instanceId: child, name, input });
        break;
      }
      case ActionType.CreateTimer: {
        const id = state.nextId++;
        state.leafIds.push(id);
        const fireAt = new Date(a.fireAt ?? now).toISOString();
        state.open[id] = { kind: 'timer' };
        events.push(ev(EventType.TimerCreated, id, now, { FireAt: fireAt }));
        if (a.isCanceled) state.canceledTimers.push(id);
        else work.push({ kind: 'timer', timerId: id, fireAt });
        break;
      }
      case ActionType.WaitForExternalEvent:
        state.leafIds.push(null);
        break;
      case ActionType.ContinueAsNew:
        state.leafIds.push(null);
        continueAsNew = a;
        break;
      default:
        return fail(
          `Action '${ActionTypeName[a.actionType] ?? a.actionType}' is not supported by the local durable backend ` +
            `(entities and durable HTTP calls are not implemented).`,
        );
    }
  }

  if (continueAsNew) {
    const input = actionInputJson(continueAsNew.input);
    // Work scheduled in the same episode as continueAsNew is dropped, as in DTFx.
    return {
      state,
      events: [
        ...prepared.scheduledEvents,
        ev(EventType.ContinueAsNew, -1, now, { Result: input ?? null }),
        ev(EventType.OrchestratorCompleted, -1, now),
      ],
      work: [],
      outcome: { kind: 'continueAsNew', input },
      customStatus: reply?.customStatus,
    };
  }
  if (reply?.isDone) {
    const output = reply.output === undefined ? null : JSON.stringify(reply.output);
    events.push(
      ev(EventType.ExecutionCompleted, -1, now, {
        OrchestrationStatus: 'Completed',
        Result: output,
      }),
      ev(EventType.OrchestratorCompleted, -1, now),
    );
    return {
      state,
      events,
      work: work.filter((w) => w.kind !== 'timer'),
      outcome: { kind: 'completed', output },
      customStatus: reply.customStatus,
    };
  }
  events.push(ev(EventType.OrchestratorCompleted, -1, now));
  return { state, events, work, outcome: { kind: 'running' }, customStatus: reply?.customStatus };
}

/** Splits an SDK failure message into the user message and the orchestrator state. */
export function parseOrchestratorFailure(message: string): {
  message: string;
  state?: OrchestratorStateWire;
} {
  const label = '\n\n$OutOfProcData$:';
  const at = message.indexOf(label);
  if (at < 0) return { message };
  const user = message.slice(0, at);
  try {
    return {
      message: user,
      state: JSON.parse(message.slice(at + label.length)) as OrchestratorStateWire,
    };
  } catch {
    return { message: user };
  }
}
