import type { HistoryEvent, RetryOptionsWire } from './history';

/** The orchestration engine's bookkeeping per instance and its message and work shapes. */
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

export function clone<T>(v: T): T {
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
