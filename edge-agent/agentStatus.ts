import type { AgentStatus } from './agentTypes';
import type { AgentDisk } from './changeSource';
import { replicationReport } from './sendRate';
import type { Spool } from './spool';
import { splitKey } from './spoolTypes';

export interface StatusParts {
  machineId: string;
  disks: AgentDisk[];
  spool: Spool;
  /** Marked acked (in place) once every disk's batch up to it is acknowledged. */
  lastBookmark?: { id: string; cutAt: string; ackedAt?: string; seqs: Record<string, number> };
  firstPassDone: boolean;
  droppedBatches: number;
  lastError?: string;
  running: boolean;
  /** Bytes per second Event Hubs acknowledged lately, and the bookmark interval. */
  sendBytesPerSecond?: number;
  bookmarkIntervalSeconds?: number;
}

/**
 * Stamps `ackedAt` on the bookmark once Event Hubs acknowledged every disk's batch up to it
 * (the sender calls this on each acknowledgement, so the time is exact); answers whether it is.
 */
export function markIfAcked(
  lb: { ackedAt?: string; seqs: Record<string, number> },
  spool: Pick<Spool, 'ackedSeq'>,
): boolean {
  if (lb.ackedAt) return true;
  const acked = Object.entries(lb.seqs).every(([k, v]) => spool.ackedSeq(splitKey(k)) >= v);
  if (acked) lb.ackedAt = new Date().toISOString();
  return acked;
}

/**
 * The agent's status (status file, `haven-agent status`, heartbeats): per disk its state and
 * spool backlog; the agent-side RPO estimate from the newest acknowledged bookmark.
 */
export function agentStatus(p: StatusParts): AgentStatus {
  const running = p.running;
  const last = p.spool.lastSeqs();
  const pendingAll = p.spool.pending().length;
  let rpoSeconds: number | undefined;
  const lb = p.lastBookmark;
  if (lb) {
    if (markIfAcked(lb, p.spool)) {
      rpoSeconds = Math.max(0, (Date.now() - Date.parse(lb.cutAt)) / 1000);
    }
  }
  return {
    pid: process.pid,
    updatedAt: new Date().toISOString(),
    machineId: p.machineId,
    running,
    disks: p.disks.map((d) => {
      const k = { diskId: d.id, generation: d.generation };
      return {
        id: d.id,
        path: d.path,
        state: !p.firstPassDone && !lb ? 'initial-sync' : pendingAll ? 'replicating' : 'idle',
        generation: d.generation,
        spoolPendingBytes: p.spool.pendingBytes(k),
        lastSpooledSeq: last[`${d.id}/${d.generation}`] ?? 0,
        lastAckedSeq: p.spool.ackedSeq(k),
        lastStoredSeq: p.spool.confirmedSeq(k),
      };
    }),
    ...(lb
      ? {
          lastBookmark: {
            id: lb.id,
            cutAt: lb.cutAt,
            ...(lb.ackedAt ? { ackedAt: lb.ackedAt } : {}),
          },
        }
      : {}),
    ...(rpoSeconds !== undefined ? { rpoSeconds } : {}),
    spoolBytes: p.spool.bytes(),
    ...(p.sendBytesPerSecond !== undefined
      ? {
          replication: replicationReport({
            backlogBytes: p.spool.pendingBytes(),
            sendBytesPerSecond: p.sendBytesPerSecond,
            bookmarkIntervalSeconds: p.bookmarkIntervalSeconds ?? 5,
          }),
        }
      : {}),
    droppedBatches: p.droppedBatches,
    ...(p.lastError ? { lastError: p.lastError } : {}),
  };
}
