import {
  ActionType,
  ActionTypeName,
  EventType,
  actionInputJson,
  flattenActions,
  type ActionWire,
  type HistoryEvent,
  type OrchestratorStateWire,
} from './history';
import {
  type EngineState,
  type WorkItem,
  type Prepared,
  ev,
  clone,
  subInstanceId,
} from './engineState';

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
