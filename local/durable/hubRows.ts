import { randomBytes } from 'node:crypto';
import type { EngineState, InboxMessage } from './engineState';

/**
 * The rows of the task hub's table and their keys. Laid out like the Azure Storage provider
 * but with every row of an instance in ONE partition (PartitionKey = instanceId), so that an
 * episode (append history, consume inbox messages, schedule activities/timers, update the
 * instance) and an activity completion (delete the work item, add the result message) are each
 * one entity-group transaction: a crash leaves either all of it or none of it.
 *
 * RowKeys of a partition:
 *   `a|{exec}|{taskId}`   activity work item (deleted atomically with its result message)
 *   `h|{exec}|{episode}`  history of one episode (JSON array; large ones in a blob)
 *   `i`                   the instance row (status, input, output, custom status, engine state)
 *   `m|{time}|{tag}`      inbox message (start, event, completion, timer with VisibleAt, terminate)
 *   `o|{exec}|{tag}`      outbox message to another instance (sub-orchestration start, parent notify)
 * Rows written ahead of a large (> 100 operation) episode carry `Ep`; rows whose Ep is above the
 * instance's committed Ep are leftovers of a crashed episode and are deleted on recovery.
 */

export const TERMINAL = new Set(['Completed', 'Failed', 'Terminated']);

export interface InstanceRow {
  instanceId: string;
  name: string;
  status: string;
  input: string | null;
  output: string | null;
  customStatus: string | null;
  createdTime: string;
  lastUpdatedTime: string;
  executionId: string;
  parent: { instanceId: string; executionId: string; taskId: number } | null;
  ep: number;
  state: EngineState;
  etag?: string;
}

export interface InboxRow {
  rowKey: string;
  msg: InboxMessage;
  visibleAt: number;
  ep: number;
}

export type OutboxMessage =
  | {
      kind: 'startSub';
      instanceId: string;
      name: string;
      input?: string;
      parent: { instanceId: string; executionId: string; taskId: number };
    }
  | { kind: 'toParent'; parentInstanceId: string; msg: InboxMessage };

export interface ActivityRow {
  instanceId: string;
  rowKey: string;
  executionId: string;
  taskId: number;
  name: string;
  input?: string;
  ep: number;
}

let seq = 0;
/** Sortable, unique inbox key: arrival time, then a process-local counter, then randomness. */
export function inboxKey(atMs: number, tag?: string): string {
  seq = (seq + 1) % 1_000_000;
  return `m|${String(atMs).padStart(15, '0')}|${tag ?? `${String(seq).padStart(6, '0')}${randomBytes(3).toString('hex')}`}`;
}

export function pad(n: number, width = 10): string {
  return String(n).padStart(width, '0');
}

/** A value quoted for a table query filter. */
export function esc(s: string): string {
  return s.replace(/'/g, "''");
}

export function activityRowKey(executionId: string, taskId: number): string {
  return `a|${executionId}|${pad(taskId, 8)}`;
}
