import type { DiskDoc } from './model';

/** The resync job: its type and the input its saga (orchestrations/resync.ts) is started with. */
export const RESYNC_JOB = 'resync';

export type ResyncJobInput = {
  machineId: string;
  diskId: string;
  generation: number;
  sizeBytes: number;
};

/** The saga input of a disk's current (resyncing) generation. */
export function resyncJobInput(d: DiskDoc): ResyncJobInput {
  return {
    machineId: d.machineId,
    diskId: d.id,
    generation: d.generation ?? 1,
    sizeBytes: d.sizeBytes,
  };
}
