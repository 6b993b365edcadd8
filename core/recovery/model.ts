import type { CollectionDef } from '../documents/ports';
import type { FailbackRecord } from '../failback/model';
import type { ResourceId } from './ports';
import type { StoredRecoverySettings } from './settings';

/** Documents of the recovery half (all partitioned by machineId). */

export interface RecoverySettingsDoc {
  id: string; // = machineId
  machineId: string;
  settings: StoredRecoverySettings;
  updatedAt: string;
}

/** A VM a recovery job brought up, and everything made for it. */
export interface DeployedVm {
  /** The job that made the current VM and disks. */
  jobId: string;
  pointId: string;
  pointTime: string;
  resourceGroup: string;
  vmId: ResourceId;
  nicId: ResourceId;
  publicIpId?: ResourceId;
  nsgId?: ResourceId;
  /** Haven created the NSG for this job (an operator's NSG from the settings is never deleted). */
  createdNsg: boolean;
  /** Managed disks, OS disk first. */
  diskIds: ResourceId[];
  vnetId: ResourceId;
  subnetId: ResourceId;
  /** Haven created the vnet for this job (then cleanup/cancel deletes it). */
  createdVnet: boolean;
  privateIp?: string;
  publicIp?: string;
  readyAt: string;
}

/** The machine's running test failover (one at a time; replication continues). */
export interface TestFailoverRecord {
  jobId: string;
  startedAt: string;
  /** After this the timer cleans it up (settings' TTL). */
  expiresAt: string;
  state: 'starting' | 'ready' | 'failed' | 'cleaning';
  cleanupJobId?: string;
  vm?: DeployedVm;
  /** What a failed test failover could not delete (cleanup retries them). */
  leftovers?: ResourceId[];
}

/** The machine's failover (state mirrors the protected item's lifecycle). */
export interface FailoverRecord {
  jobId: string;
  planned: boolean;
  startedAt: string;
  /** The job now acting on it (change point, commit, cancel); absent when idle. */
  busyJobId?: string;
  busyKind?: 'change-point' | 'commit' | 'cancel';
  /** Planned failover: the final bookmark the agent is asked for (it holds writes from then on). */
  finalBookmark?: { id: string; requestedAt: string };
  vm?: DeployedVm;
  committedAt?: string;
}

export interface RecoveryRecordDoc {
  id: string; // = machineId
  machineId: string;
  test?: TestFailoverRecord;
  failover?: FailoverRecord;
  /** The way back after a committed failover (reprotect, failback). */
  failback?: FailbackRecord;
  updatedAt: string;
}

/** Idempotency-Key → the job it started (same key and body: the same job). */
export interface IdempotencyDoc {
  id: string; // sha256(machineId, operation, key)
  machineId: string;
  operation: string;
  bodyHash: string;
  jobId: string;
  createdAt: string;
  expiresAt: number;
}

export const recoveryCollectionsDefs = {
  recoverySettings: { name: 'recoverySettings', partitionKey: 'machineId' },
  recoveries: { name: 'recoveries', partitionKey: 'machineId' },
  idempotencyKeys: {
    name: 'idempotencyKeys',
    partitionKey: 'machineId',
    expiresAtField: 'expiresAt',
  },
} satisfies Record<string, CollectionDef>;

export const recoveryCollections: CollectionDef[] = Object.values(recoveryCollectionsDefs);
