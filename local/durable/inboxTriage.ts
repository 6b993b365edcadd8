import type { InboxMessage } from './engineState';
import type { InboxRow, InstanceRow } from './hubRows';

export interface InboxTriage {
  /** Rows visible now, oldest first (a canceled timer's is visible at once: consumed, not waited for). */
  visible: InboxRow[];
  /** The rows this episode consumes: the first `max` visible. */
  batch: InboxRow[];
  /** The batch's messages the orchestrator sees: canceled timers are consumed unseen. */
  messages: InboxMessage[];
  /** Rows not visible yet (timers), to wake the instance at. */
  later: { rowKey: string; visibleAt: number }[];
}

function canceledTimer(m: InboxMessage, instance: InstanceRow, canceled: Set<number>): boolean {
  return (
    m.kind === 'timerFired' && m.executionId === instance.executionId && canceled.has(m.timerId)
  );
}

/** Splits an instance's inbox into what one episode consumes now and what it waits for. */
export function triageInbox(
  inbox: InboxRow[],
  instance: InstanceRow,
  now: number,
  max: number,
): InboxTriage {
  const canceled = new Set(instance.state.canceledTimers ?? []);
  const visible: InboxRow[] = [];
  const later: InboxTriage['later'] = [];
  for (const m of inbox) {
    if (m.visibleAt > now && !canceledTimer(m.msg, instance, canceled)) later.push(m);
    else visible.push(m);
  }
  const batch = visible.slice(0, max);
  const messages = batch.map((m) => m.msg).filter((m) => !canceledTimer(m, instance, canceled));
  return { visible, batch, messages, later };
}
