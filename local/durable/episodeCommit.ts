import type { TableEntity, TransactionAction } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import type { Applied } from './applyResult';
import { newEngineState, type InboxMessage, type Prepared, type WorkItem } from './engineState';
import { EventType, type HistoryEvent } from './history';
import {
  activityRowKey,
  inboxKey,
  pad,
  type ActivityRow,
  type InstanceRow,
  type OutboxMessage,
} from './hubRows';
import type { HubStore } from './store';

/** One episode's outcome as table actions, and the work to start once they are committed. */
export interface EpisodeCommit {
  /** New rows (history, work items, timers, outbox); may be committed ahead of `fin`. */
  pre: TransactionAction[];
  /** The instance row (etag-checked) and the consumed inbox rows: commits the episode. */
  fin: TransactionAction[];
  next: InstanceRow;
  newEvents: HistoryEvent[];
  outcome: 'terminated' | Applied['outcome']['kind'] | undefined;
  activities: ActivityRow[];
  timers: { rowKey: string; at: number }[];
  outbox: { rowKey: string; msg: OutboxMessage }[];
}

export async function planEpisodeCommit(
  store: HubStore,
  instance: InstanceRow,
  prepared: Prepared,
  applied: Applied | undefined,
  consumed: string[],
  now: Date,
): Promise<EpisodeCommit> {
  const id = instance.instanceId;
  const ep = instance.ep + 1;
  const pre: TransactionAction[] = [];
  const fin: TransactionAction[] = [];
  const newEvents = [...prepared.newEvents, ...(applied?.events ?? [])];
  if (prepared.terminated !== undefined) {
    newEvents.push({
      EventType: EventType.OrchestratorCompleted,
      EventId: -1,
      IsPlayed: false,
      Timestamp: now.toISOString(),
    });
  }
  const next: InstanceRow = {
    ...instance,
    ep,
    state: applied?.state ?? prepared.state,
    lastUpdatedTime: now.toISOString(),
  };
  if (newEvents.length) {
    pre.push([
      'upsert',
      {
        partitionKey: id,
        rowKey: `h|${instance.executionId}|${pad(ep)}`,
        D: await store.pack(id, JSON.stringify(newEvents)),
      },
      'Replace',
    ]);
  }
  const outbox: { rowKey: string; msg: OutboxMessage }[] = [];
  const activities: ActivityRow[] = [];
  const timers: { rowKey: string; at: number }[] = [];
  const addWork = async (w: WorkItem): Promise<void> => {
    if (w.kind === 'activity') {
      const rowKey = activityRowKey(instance.executionId, w.taskId);
      pre.push([
        'upsert',
        {
          partitionKey: id,
          rowKey,
          N: w.name,
          D: await store.pack(id, w.input ?? null),
          Ep: ep,
        },
        'Replace',
      ]);
      activities.push({
        instanceId: id,
        rowKey,
        executionId: instance.executionId,
        taskId: w.taskId,
        name: w.name,
        input: w.input,
        ep,
      });
    } else if (w.kind === 'timer') {
      const at = new Date(w.fireAt).getTime();
      const rowKey = inboxKey(at, `t${instance.executionId}.${w.timerId}`);
      const msg: InboxMessage = {
        kind: 'timerFired',
        executionId: instance.executionId,
        timerId: w.timerId,
        fireAt: w.fireAt,
      };
      pre.push(['upsert', await store.inboxEntity(id, rowKey, msg, at, ep), 'Replace']);
      timers.push({ rowKey, at });
    } else {
      const msg: OutboxMessage = {
        kind: 'startSub',
        instanceId: w.instanceId,
        name: w.name,
        input: w.input,
        parent: { instanceId: id, executionId: instance.executionId, taskId: w.taskId },
      };
      const rowKey = `o|${instance.executionId}|s${pad(w.taskId, 8)}`;
      pre.push([
        'upsert',
        { partitionKey: id, rowKey, D: await store.pack(id, JSON.stringify(msg)), Ep: ep },
        'Replace',
      ]);
      outbox.push({ rowKey, msg });
    }
  };
  for (const w of applied?.work ?? prepared.work) await addWork(w);

  if (prepared.started) {
    next.status = 'Running';
  }
  if (applied?.customStatus !== undefined) next.customStatus = JSON.stringify(applied.customStatus);
  let toParent: InboxMessage | undefined;
  const outcome = prepared.terminated !== undefined ? 'terminated' : applied?.outcome.kind;
  if (prepared.terminated !== undefined) {
    next.status = 'Terminated';
    next.output = JSON.stringify(prepared.terminated);
    if (instance.parent)
      toParent = {
        kind: 'subFailed',
        executionId: instance.parent.executionId,
        taskId: instance.parent.taskId,
        reason: `Sub-orchestration '${id}' was terminated: ${prepared.terminated}`,
        details: '',
      };
  } else if (applied?.outcome.kind === 'completed') {
    next.status = 'Completed';
    next.output = applied.outcome.output;
    if (instance.parent)
      toParent = {
        kind: 'subCompleted',
        executionId: instance.parent.executionId,
        taskId: instance.parent.taskId,
        result: applied.outcome.output,
      };
  } else if (applied?.outcome.kind === 'failed') {
    next.status = 'Failed';
    next.output = JSON.stringify(applied.outcome.output);
    if (instance.parent)
      toParent = {
        kind: 'subFailed',
        executionId: instance.parent.executionId,
        taskId: instance.parent.taskId,
        reason: applied.outcome.reason,
        details: applied.outcome.details,
      };
  } else if (applied?.outcome.kind === 'continueAsNew') {
    const executionId = randomUUID().replace(/-/g, '');
    next.executionId = executionId;
    next.input = applied.outcome.input ?? null;
    next.output = null;
    next.state = newEngineState();
    next.status = 'Running';
    const msg: InboxMessage = {
      kind: 'start',
      executionId,
      name: instance.name,
      input: applied.outcome.input,
      parent: instance.parent ?? undefined,
    };
    pre.push([
      'upsert',
      await store.inboxEntity(id, inboxKey(now.getTime(), `s${executionId}`), msg, 0, ep),
      'Replace',
    ]);
  }
  if (toParent && instance.parent) {
    const msg: OutboxMessage = {
      kind: 'toParent',
      parentInstanceId: instance.parent.instanceId,
      msg: toParent,
    };
    const rowKey = `o|${instance.executionId}|done`;
    pre.push([
      'upsert',
      { partitionKey: id, rowKey, D: await store.pack(id, JSON.stringify(msg)), Ep: ep },
      'Replace',
    ]);
    outbox.push({ rowKey, msg });
  }

  const entity: TableEntity = await store.instanceEntity(next);
  fin.push(['update', entity, 'Replace', { etag: instance.etag }]);
  for (const rk of consumed) fin.push(['delete', { partitionKey: id, rowKey: rk }]);
  return { pre, fin, next, newEvents, outcome, activities, timers, outbox };
}
