import * as os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Consistency } from '../core/batch';

/**
 * What the agent's parts share (log, status, bookmark records), below all of them so that no
 * part imports the agent itself: the agent composes its parts, they never look back up at it.
 */
export const AGENT_VERSION = '0.1.0';

export type Log = (msg: string, fields?: Record<string, unknown>) => void;

export interface AgentStatus {
  pid: number;
  updatedAt: string;
  machineId: string;
  running: boolean;
  disks: {
    id: string;
    path: string;
    state: 'initial-sync' | 'replicating' | 'idle';
    generation: number;
    spoolPendingBytes: number;
    lastSpooledSeq: number;
    lastAckedSeq: number;
    /** Every batch up to this seq is stored in Azure, as the control plane last listed it. */
    lastStoredSeq: number;
    lastHydratedSeq?: number;
  }[];
  lastBookmark?: { id: string; cutAt: string; ackedAt?: string };
  /**
   * Seconds since the newest recovery point (status asks the control plane), else since the
   * newest bookmark Event Hubs acknowledged (agent-side estimate, rpoSource 'agent').
   */
  rpoSeconds?: number;
  rpoSource?: 'agent' | 'cloud';
  lastPoint?: { id: string; time?: string };
  spoolBytes: number;
  /** What the heartbeat reports: backlog, send rate, the RPO the agent can promise (sendRate.ts). */
  replication?: { backlogBytes: number; sendBytesPerSecond: number; promisedRpoSeconds: number };
  /** Batches not taken because the spool was full (their ranges were re-scanned). */
  droppedBatches: number;
  lastError?: string;
}

export interface BookmarkLogEntry {
  id: string;
  cutAt: string;
  /** `${diskId}/${generation}` -> seq of the bookmark's batch. */
  seqs: Record<string, number>;
}

export interface BookmarkRequestFile {
  id: string;
  consistency: Consistency;
}

export const newBookmarkId = (tag?: string): string => {
  const t = new Date().toISOString().replace(/[-:.]/g, '').replace('T', 't').replace('Z', 'z');
  const safeTag = tag ? `${tag.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40)}-` : '';
  return `bm-${safeTag}${t}-${randomBytes(3).toString('hex')}`;
};

export const hostFacts = () => ({
  hostname: os.hostname(),
  os: `${os.type()} ${os.release()} ${os.arch()}`,
});
