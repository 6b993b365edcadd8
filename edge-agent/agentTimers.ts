import type { AgentSettings } from './agentState';
import type { AgentStatus, Log } from './agentTypes';
import { newBookmarkId } from './agentTypes';
import type { BookmarkRequests } from './bookmarkRequests';
import type { ChangeSource } from './changeSource';
import type { ControlPlaneClient } from './controlPlaneClient';
import { FinalBookmark } from './finalBookmark';
import type { GroupCutRunner } from './groupCutRunner';
import { heartbeatReport } from './heartbeatReport';

/** What the running agent's periodic work reads and calls. */
export interface TimedWork {
  machineId: string;
  api: ControlPlaneClient;
  source: ChangeSource;
  settings: AgentSettings;
  requests: BookmarkRequests;
  groupCutRunner: GroupCutRunner;
  log: Log;
  status(): AgentStatus;
  writeStatus(): Promise<void>;
  rotateKey(): Promise<void>;
  /** Crash bookmarks start once the first pass is done. */
  firstPassDone(): boolean;
  /** Kept by the agent across runs: one crash bookmark at a time. */
  crash: { pending: boolean };
}

/**
 * Starts what `run` does besides the change stream: the status file every second, a heartbeat
 * (and a key rotation when asked) every 30 s, a crash bookmark per interval, and the polls for
 * group cuts, a planned failover's final bookmark and `haven-agent bookmark` requests.
 * Returns the timers, for the caller to clear.
 */
export function startAgentTimers(
  w: TimedWork,
  signal: AbortSignal,
  intervalMs: number,
): NodeJS.Timeout[] {
  const timers: NodeJS.Timeout[] = [];
  timers.push(setInterval(() => void w.writeStatus().catch(() => undefined), 1000));
  timers.push(
    setInterval(
      () =>
        void w.api
          .heartbeat(w.machineId, heartbeatReport(w.status()))
          .then((r) => (r.rotateKey ? w.rotateKey() : undefined))
          .catch((e: unknown) =>
            w.log('heartbeat or key rotation failed', { error: (e as Error).message }),
          ),
      30_000,
    ),
  );
  timers.push(
    setInterval(() => {
      // One crash bookmark at a time: a slow pass must not queue a pile of them.
      if (!w.firstPassDone() || w.crash.pending) return;
      w.crash.pending = true;
      void w.source
        .requestBookmark({ id: newBookmarkId(), consistency: 'crash' })
        .finally(() => (w.crash.pending = false));
    }, intervalMs),
  );
  timers.push(
    setInterval(
      () =>
        void w.groupCutRunner
          .poll(signal)
          .catch((e) => w.log('group cut poll failed', { error: (e as Error).message })),
      (w.settings.groupPollSeconds ?? 5) * 1000,
    ),
  );
  const final = new FinalBookmark(
    w.source,
    () => w.api.finalBookmark(w.machineId),
    (m, f) => w.log(m, f),
  );
  timers.push(
    setInterval(
      () =>
        void final
          .poll()
          .catch((e) => w.log('final bookmark poll failed', { error: (e as Error).message })),
      2_000,
    ),
  );
  timers.push(
    setInterval(
      () =>
        void w.requests
          .poll()
          .catch((e) => w.log('bookmark request failed', { error: (e as Error).message })),
      250,
    ),
  );
  return timers;
}
