/**
 * The wire shapes of the durable-functions out-of-process protocol (schema V1–V4), as the
 * real Durable Functions extension sends them to the JS SDK and receives them back.
 * Numbers match durable-functions 3.x `HistoryEventType` and `ActionType`.
 */

export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
  GenericEvent: 17,
  HistoryState: 18,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

export const EventTypeName: Record<number, string> = Object.fromEntries(
  Object.entries(EventType).map(([k, v]) => [v, k]),
);

export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
  LockEntities: 13,
  ReleaseEntities: 14,
} as const;

export const ActionTypeName: Record<number, string> = Object.fromEntries(
  Object.entries(ActionType).map(([k, v]) => [v, k]),
);

/** Highest replay schema this backend speaks (V4 = 3): action trees for Task.all/any. */
export const UPPER_SCHEMA_VERSION = 3;

export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [field: string]: unknown;
}

export interface RetryOptionsWire {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

/** One action as the SDK returns it (after a JSON round trip dates may be strings). */
export interface ActionWire {
  actionType: number;
  functionName?: string;
  input?: unknown;
  retryOptions?: RetryOptionsWire;
  instanceId?: string;
  fireAt?: string | Date;
  isCanceled?: boolean;
  externalEventName?: string;
  compoundActions?: ActionWire[];
  [field: string]: unknown;
}

/** The orchestrator's reply: `{ isDone, actions, output, error, customStatus, schemaVersion }`. */
export interface OrchestratorStateWire {
  isDone: boolean;
  actions: ActionWire[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  schemaVersion?: number;
}

export const OUT_OF_PROC_LABEL = '\n\n$OutOfProcData$:';

/** Flattens WhenAll/WhenAny trees in the SDK's scheduling order (depth first, left to right). */
export function flattenActions(actions: ActionWire[][]): ActionWire[] {
  const out: ActionWire[] = [];
  const walk = (a: ActionWire): void => {
    if (a.actionType === ActionType.WhenAll || a.actionType === ActionType.WhenAny) {
      for (const c of a.compoundActions ?? []) walk(c);
    } else out.push(a);
  };
  for (const group of actions ?? []) for (const a of group ?? []) walk(a);
  return out;
}

/** The SDK double-encodes string inputs (`Utils.processInput`); the extension passes them as JSON text. */
export function actionInputJson(input: unknown): string | undefined {
  if (input === undefined) return undefined;
  if (typeof input === 'string') return input;
  return JSON.stringify(input);
}

export function parseJson(text: string | undefined | null): unknown {
  if (text === undefined || text === null || text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
