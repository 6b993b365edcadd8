import { isMaterialized } from './pointDocs';
import type { RecoveryPointDoc } from './state';

/**
 * The API shape of a recovery point. Every listed point is `durable` (it survives the loss of
 * the site); it is `materialized` once each disk has its replica snapshot: until then `disks`
 * name only where each disk's bookmark sits, and using the point (restore, failover) first
 * drives its hydration (`materializeUpTo`).
 */
export interface RecoveryPoint {
  id: string;
  machineId: string;
  /** The agent's bookmark time, never more than a few minutes ahead of the server clock. */
  time: string;
  /** The agent's own time when its clock was ahead of the server's (information only). */
  agentTime?: string;
  consistency: 'crash' | 'app';
  groupId?: string;
  /** The machine held its writes at this group cut (a cross-machine barrier). */
  barrier?: boolean;
  generation: number;
  durable: true;
  durableAt: string;
  materialized: boolean;
  materializedAt?: string;
  disks: {
    diskId: string;
    generation: number;
    /** The following are known once materialized. */
    snapshot?: string;
    sha256?: string;
    sizeBytes?: number;
    changedBlocks?: number;
  }[];
}

export function toApi(p: RecoveryPointDoc): RecoveryPoint {
  const materialized = isMaterialized(p);
  return {
    id: p.id,
    machineId: p.machineId,
    time: p.time,
    ...(p.agentTime ? { agentTime: p.agentTime } : {}),
    consistency: p.consistency,
    ...(p.groupId ? { groupId: p.groupId } : {}),
    ...(p.barrier ? { barrier: true } : {}),
    generation: p.generation,
    durable: true,
    durableAt: p.durableAt ?? p.publishedAt,
    materialized,
    ...(materialized ? { materializedAt: p.materializedAt ?? p.publishedAt } : {}),
    disks: materialized
      ? p.disks.map((d) => ({
          diskId: d.diskId,
          generation: d.generation,
          snapshot: d.snapshot,
          sha256: d.sha256,
          sizeBytes: d.sizeBytes,
          changedBlocks: d.changedBlocks,
        }))
      : (p.cuts ?? []).map((c) => ({
          diskId: c.diskId,
          generation: c.generation,
          sizeBytes: c.sizeBytes,
        })),
  };
}
