import { incomingContainerOf } from '../batch';
import type { BlobStore } from './blobPorts';

/** Blobs deleted per listing: a container left by a flooding agent is emptied in rounds. */
const ROUND = 1000;

/**
 * Empties a deleted machine's claim-check container (`in-<machineId>`). The lifecycle rule
 * expires block and append blobs there, but Azure has no lifecycle for page blobs: one the
 * machine uploaded would otherwise stay forever. A SAS already handed out stays valid for its
 * last minutes, so a blob written after this is left to the lifecycle rule.
 */
export async function purgeIncoming(blobs: BlobStore, machineId: string): Promise<number> {
  const container = incomingContainerOf(machineId);
  let deleted = 0;
  for (;;) {
    const page = await blobs.list(container, '', { max: ROUND });
    for (const b of page) if (await blobs.deleteBlob(container, b.name)) deleted++;
    if (page.length < ROUND) return deleted;
  }
}
