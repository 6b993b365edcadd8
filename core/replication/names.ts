import { validation } from '../errors';
import { ID_PATTERN, STAGING_CONTAINER, stagingBlobName } from '../batch';

/** Containers of the data path (docs/conventions.md "Batches"). */
export const STAGING = STAGING_CONTAINER;
export const REPLICAS = 'replicas';
/** Verified copies of claim-checked envelopes, named by content; `staging/` points at them. */
export const BATCHES = 'batches';
/** Haven's own per-replica indexes: block digests, changed-block bitmap, per-point change sets. */
export const REPLICA_INDEX = 'replica-index';

export const VHD_FOOTER_BYTES = 512;
const MiB = 1024 * 1024;

export { stagingBlobName };

export interface StagingKey {
  machineId: string;
  diskId: string;
  generation: number;
  seq: number;
}

/** One replica: a disk of a machine in one generation. */
export type DiskKey = Omit<StagingKey, 'seq'>;

/** Parses `{machineId}/{diskId}/{generation}/{seq:012}` (the staging blob name). */
export function parseStagingName(name: string): StagingKey {
  const m = /^([^/]+)\/([^/]+)\/(\d{1,9})\/(\d{12})$/.exec(name);
  if (!m || !ID_PATTERN.test(m[1]!) || !ID_PATTERN.test(m[2]!)) {
    throw validation(`'${name}' is not a staging blob name (machine/disk/generation/seq).`);
  }
  const generation = Number(m[3]);
  const seq = Number(m[4]);
  if (generation < 1 || seq < 1) throw validation(`'${name}': generation and seq start at 1.`);
  return { machineId: m[1]!, diskId: m[2]!, generation, seq };
}

export function stagingPrefix(machineId: string, diskId?: string, generation?: number): string {
  if (diskId === undefined) return `${machineId}/`;
  if (generation === undefined) return `${machineId}/${diskId}/`;
  return `${machineId}/${diskId}/${generation}/`;
}

export function replicaBlobName(machineId: string, diskId: string, generation: number): string {
  return `${machineId}/${diskId}/g${generation}.vhd`;
}

/** Disk bytes rounded up to 1 MiB, then the 512-byte fixed VHD footer (Azure disk import). */
export function replicaBlobSize(diskSize: number): number {
  return Math.ceil(diskSize / MiB) * MiB + VHD_FOOTER_BYTES;
}

export function indexBlobName(machineId: string, diskId: string, generation: number): string {
  return `${machineId}/${diskId}/g${generation}.index`;
}

export function changeSetBlobName(
  machineId: string,
  diskId: string,
  generation: number,
  pointId: string,
): string {
  return `${machineId}/${diskId}/g${generation}/changes/${pointId}`;
}
