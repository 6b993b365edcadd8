import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { adminApi, type AdminTarget } from '../../support/adminApi';
import { stopChild, type Child } from '../../support/procs';
import { waitFor } from '../../support/waitFor';
import { agentOn, type Machine } from './machine';

/**
 * `haven-agent run` (continuous) that cuts no crash bookmarks of its own (interval 1 h) and asks
 * for consistency-group cuts every second: the only bookmarks it inserts are the group's.
 */
export function startReplicating(m: Machine): Child {
  pollGroupCutsEverySecond(m);
  return agentOn(m, ['run', '--interval', '3600']);
}

/** The machine's agent asks for consistency-group cuts every second (settings.json). */
export function pollGroupCutsEverySecond(m: Machine): void {
  const file = path.join(m.stateDir, 'settings.json');
  let settings: Record<string, unknown> = {};
  try {
    settings = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    /* no settings yet */
  }
  writeFileSync(file, JSON.stringify({ ...settings, groupPollSeconds: 1 }));
}

/** SIGTERM (a clean stop: the agent flushes and checkpoints) and wait for the exit. */
export async function stopAgent(a: Child): Promise<void> {
  await stopChild(a, 'SIGTERM');
}

export interface GroupPoint {
  id: string;
  groupId: string;
  state: 'complete' | 'pending' | 'expired';
  barrier: boolean;
  members: string[];
  missing: string[];
  machines: {
    id: string;
    machineId: string;
    time: string;
    disks: { diskId: string; sha256: string }[];
  }[];
}

/** Polls the group point until it is complete (or `until` holds); fails early if an agent died. */
export async function waitForGroupPoint(
  stack: AdminTarget,
  groupId: string,
  pointId: string,
  agents: Child[],
  opts: { until?: (p: GroupPoint) => boolean; timeoutMs?: number } = {},
): Promise<GroupPoint> {
  const done = opts.until ?? ((p: GroupPoint) => p.state === 'complete');
  return waitFor(
    `group point ${pointId} of ${groupId}`,
    async () => {
      const p = await adminApi<GroupPoint>(
        stack,
        'GET',
        `consistency-groups/${groupId}/recovery-points/${pointId}`,
      );
      if (done(p)) return p;
      const dead = agents.find((a) => a.exited());
      if (dead)
        throw new Error(`an agent exited: ${dead.out.stdout}${dead.out.stderr.slice(-3000)}`);
      return undefined;
    },
    { timeoutMs: opts.timeoutMs ?? 300_000, intervalMs: 250 },
  );
}

/** The ids of the bookmarks the agent spooled (its bookmark log), in order. */
export function bookmarkIds(m: Machine): string[] {
  const log = JSON.parse(readFileSync(path.join(m.stateDir, 'bookmarks.json'), 'utf8')) as {
    id: string;
  }[];
  return log.map((b) => b.id);
}
