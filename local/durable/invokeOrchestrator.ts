import type { BackendHost } from './backendOptions';
import { applyResult, parseOrchestratorFailure, type Applied } from './applyResult';
import type { Prepared } from './engineState';
import {
  EventType,
  UPPER_SCHEMA_VERSION,
  parseJson,
  type HistoryEvent,
  type OrchestratorStateWire,
} from './history';
import type { InstanceRow } from './hubRows';

/** Replays the orchestrator function over the history plus this episode's new events. */
export async function invokeOrchestrator(
  host: BackendHost,
  instance: InstanceRow,
  history: HistoryEvent[],
  prepared: Prepared,
  now: Date,
): Promise<Applied> {
  const ctx = { instanceId: instance.instanceId, name: instance.name, now };
  const fn = host.orchestratorName(instance.name);
  if (!fn) {
    return applyResult(
      ctx,
      prepared,
      undefined,
      `The function '${instance.name}' doesn't exist, is disabled, or is not an orchestrator function.`,
    );
  }
  const started = [...history, ...prepared.newEvents].find(
    (e) => e.EventType === EventType.ExecutionStarted,
  );
  const input = started ? parseJson(started.Input as string | null) : parseJson(instance.input);
  const fullHistory = [
    ...history.map((e) => ({ ...e, IsPlayed: true })),
    ...prepared.newEvents.map((e) => ({ ...e, IsPlayed: false })),
  ];
  const triggerValue = {
    history: JSON.parse(JSON.stringify(fullHistory)) as unknown,
    input,
    instanceId: instance.instanceId,
    isReplaying: history.length > 0,
    parentInstanceId: instance.parent?.instanceId,
    upperSchemaVersion: UPPER_SCHEMA_VERSION,
    upperSchemaVersionNew: UPPER_SCHEMA_VERSION,
    // Timers are never split into long-timer intervals by this backend.
    maximumShortTimerDuration: 'P3650D',
    longRunningTimerIntervalDuration: 'P3D',
    defaultHttpAsyncRequestSleepTimeMillseconds: 30_000,
  };
  try {
    const reply = (await host.invoke(fn, triggerValue)) as OrchestratorStateWire;
    return applyResult(ctx, prepared, reply);
  } catch (e) {
    const parsed = parseOrchestratorFailure(String((e as Error)?.message ?? e));
    // The SDK's OrchestrationFailureError carries the user's error in the state's `error`.
    return applyResult(ctx, prepared, parsed.state, parsed.state?.error ?? parsed.message);
  }
}
