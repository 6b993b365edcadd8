import type { CollectionDef } from '../documents/ports';
import type { DiskStatus, PolicyFields } from './schemas';
import type { ProtectedItemState } from './protectedItemState';
import { groupCollectionsDefs } from './groupModel';

/** Stored documents of the control plane and their collections (containers). */

export interface SiteDoc {
  id: string;
  name: string;
  description?: string;
  createdAt: string;
}

export interface EnrollmentTokenDoc {
  id: string;
  siteId: string;
  /** sha256 (hex) of the token's secret; the token itself is returned once. */
  secretHash: string;
  createdAt: string;
  /** Epoch ms; expired tokens read as absent. */
  expiresAt: number;
  usedAt?: string;
  usedBy?: string;
  /** Revoked before use: it enrolls nothing. */
  revokedAt?: string;
  /**
   * A replacement token (admin, for one machine): the agent that redeems it becomes that
   * machine on new hardware instead of enrolling a new one (core/controlPlane/replacement.ts).
   */
  replaces?: string;
}

export interface MachineDoc {
  id: string;
  siteId: string;
  hostname: string;
  os: string;
  agentVersion?: string;
  enrolledAt: string;
  /** sha256 (hex) of the credential's secret. Never leaves the server. */
  credentialHash: string;
  /** Current data key id (batches name the key they were sealed with). */
  keyId: string;
  /** Set when an admin revoked the machine: its credential no longer authenticates anything. */
  revokedAt?: string;
  /** An admin asked for a new data key; the agent takes it on its next heartbeat. */
  keyRotationRequestedAt?: string;
  /** Last time a new agent took over this machine with a replacement token. */
  replacedAt?: string;
}

export interface DiskDoc {
  id: string;
  machineId: string;
  sizeBytes: number;
  logicalSectorSize: 512 | 4096;
  addedAt: string;
  /** Replication generation the agent must send (absent = 1); a resync starts the next one. */
  generation?: number;
  /** The last resync of this disk (pending until its generation publishes a recovery point). */
  resync?: DiskResync;
  /**
   * Re-enable after failback: this generation's replica was seeded in the cloud with the disk
   * as the site had it at failback (`digest`); the agent then compares against its index of
   * that moment instead of sending everything.
   */
  seed?: { generation: number; digest: string; jobId: string };
}

/** A resync (architecture §2 "Generations and resync"): the disk replicates again into a fresh replica. */
export interface DiskResync {
  generation: number;
  requestedAt: string;
  /**
   * admin: an operator; agent: it lost its tracking state; resize: the disk changed size; auto:
   * the previous generation stopped (autoResyncs.ts).
   */
  requestedBy: 'admin' | 'agent' | 'resize' | 'auto';
  reason?: string;
  /** The resync job (absent when the disk was not protected: nothing to wait for). */
  jobId?: string;
  idempotencyKey?: string;
  /** Size of the previous generation when a resize started this one. */
  previousSizeBytes?: number;
  /** auto: which automatic resync in a row this is (autoResyncBackoff.ts; absent = 1). */
  autoInARow?: number;
  /** When this generation's first recovery point was seen; absent = pending. */
  completedAt?: string;
}

export interface HeartbeatDoc {
  id: string; // = machineId
  machineId: string;
  agentVersion: string;
  at: string;
  disks: DiskStatus[];
  ipv4?: string[];
  /** The agent's own view of its backlog and the RPO it can promise (schemas.ts). */
  replication?: { backlogBytes: number; sendBytesPerSecond: number; promisedRpoSeconds: number };
}

export interface DataKeyDoc {
  id: string; // = keyId
  machineId: string;
  /**
   * base64 of the data key wrapped by the KEK `kekId` names: the Key Vault key (its version ‖
   * RSA-OAEP-256 of the key and its AAD's hash) or, for keys wrapped before, `HAVEN_KEK`
   * (nonce ‖ AES-256-GCM ciphertext ‖ tag). Unwrapped by that same KEK.
   */
  wrapped: string;
  kekId: string;
  createdAt: string;
}

export interface PolicyDoc extends PolicyFields {
  id: string; // = name
  name: string;
  createdAt: string;
  updatedAt: string;
}

export interface StateChange {
  from: ProtectedItemState | null;
  to: ProtectedItemState;
  at: string;
  reason?: string;
  jobId?: string;
}

export interface ProtectedItemDoc {
  id: string; // = machineId: one protected item per machine
  machineId: string;
  siteId: string;
  state: ProtectedItemState;
  disks: string[];
  policy: string;
  /** The job of the last lifecycle operation. */
  jobId: string;
  createdAt: string;
  updatedAt: string;
  /** Most recent transitions, newest last (bounded). */
  history: StateChange[];
}

/**
 * `partially-succeeded`: a recovery plan job where some machines failed (each machine's outcome
 * is in its result); `waiting-for-manual-action`: a job paused until someone resumes it (a plan's
 * manual action, an alert decision awaiting approval) or its timeout decides.
 */
export type JobState =
  | 'queued'
  | 'running'
  | 'waiting-for-manual-action'
  | 'succeeded'
  | 'partially-succeeded'
  | 'failed'
  | 'cancelled';

/** States a job never leaves. */
export const terminalJobStates: readonly JobState[] = [
  'succeeded',
  'partially-succeeded',
  'failed',
  'cancelled',
];

/** One step of a job (recovery jobs show them: point wait, disk import, VM create, boot, probe). */
export interface JobStep {
  name: string;
  state: 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'compensated';
  startedAt?: string;
  endedAt?: string;
  detail?: string;
}

export interface JobDoc {
  id: string;
  type: string;
  state: JobState;
  /** Durable orchestration instance id; equals the job id so starts are idempotent. */
  instanceId: string;
  machineId?: string;
  progress: { percent: number; step?: string };
  createdAt: string;
  updatedAt: string;
  error?: { kind: string; message: string };
  result?: Record<string, unknown>;
  /** Ordered steps with their timings (absent on jobs that do not report steps). */
  steps?: JobStep[];
  /** What a caller may do now (e.g. `cancel`, `cleanup`, `commit`). */
  allowedActions?: string[];
  /** `admin` (API key), `timer` (e.g. the test-failover TTL), or a parent job. */
  startedBy?: string;
  /** The job this one is part of (recovery plans build trees on it). */
  parentJobId?: string;
  /** The request's Idempotency-Key, if any. */
  idempotencyKey?: string;
}

export const collectionsDefs = {
  sites: { name: 'sites', partitionKey: 'id' },
  enrollmentTokens: { name: 'enrollmentTokens', partitionKey: 'id', expiresAtField: 'expiresAt' },
  machines: { name: 'machines', partitionKey: 'id', orderings: [[{ field: 'enrolledAt' }]] },
  disks: { name: 'disks', partitionKey: 'machineId' },
  heartbeats: { name: 'heartbeats', partitionKey: 'machineId' },
  dataKeys: { name: 'dataKeys', partitionKey: 'machineId' },
  policies: { name: 'policies', partitionKey: 'id' },
  protectedItems: { name: 'protectedItems', partitionKey: 'machineId' },
  jobs: {
    name: 'jobs',
    partitionKey: 'id',
    orderings: [[{ field: 'createdAt', direction: 'desc' }]],
  },
} satisfies Record<string, CollectionDef>;

export const controlPlaneCollections: CollectionDef[] = [
  ...Object.values(collectionsDefs),
  ...Object.values(groupCollectionsDefs),
];
