import { EventTypeName, parseJson, type HistoryEvent } from './history';
import type { InstanceRow } from './hubRows';

/** The JSON the extension answers for an instance: its history (`showHistory`) and its status. */
export function historyForApi(
  events: HistoryEvent[],
  showOutput: boolean,
): Record<string, unknown>[] {
  const scheduled = new Map<number, string>();
  for (const e of events)
    if (e.EventId >= 0 && typeof e.Name === 'string') scheduled.set(e.EventId, e.Name);
  const out: Record<string, unknown>[] = [];
  for (const e of events) {
    const type = EventTypeName[e.EventType] ?? String(e.EventType);
    if (type === 'OrchestratorStarted' || type === 'OrchestratorCompleted') continue;
    const item: Record<string, unknown> = { EventType: type, Timestamp: e.Timestamp };
    if (e.EventId >= 0) item.EventId = e.EventId;
    if (typeof e.Name === 'string') item.Name = e.Name;
    const ref = (e.TaskScheduledId ?? e.TimerId) as number | undefined;
    if (ref !== undefined) {
      item.ScheduledId = ref;
      if (scheduled.has(ref)) item.FunctionName = scheduled.get(ref);
    }
    if (type === 'ExecutionStarted') {
      item.FunctionName = e.Name;
      item.Input = parseJson(e.Input as string | null);
    }
    if (type === 'ExecutionCompleted') item.OrchestrationStatus = e.OrchestrationStatus;
    if (e.FireAt) item.FireAt = e.FireAt;
    if ((type === 'TaskFailed' || type === 'SubOrchestrationInstanceFailed') && e.Reason) {
      item.Reason = e.Reason;
      item.Details = e.Details;
    }
    if (showOutput && e.Result !== undefined) item.Result = parseJson(e.Result as string | null);
    if (type === 'EventRaised' && showOutput) item.Input = parseJson(e.Input as string | null);
    out.push(item);
  }
  return out;
}

export function statusBody(inst: InstanceRow, showInput: boolean): Record<string, unknown> {
  return {
    name: inst.name,
    instanceId: inst.instanceId,
    runtimeStatus: inst.status,
    input: showInput ? parseJson(inst.input) : null,
    customStatus: parseJson(inst.customStatus),
    output: parseJson(inst.output),
    createdTime: inst.createdTime.replace(/\.\d{3}Z$/, 'Z'),
    lastUpdatedTime: inst.lastUpdatedTime.replace(/\.\d{3}Z$/, 'Z'),
  };
}
