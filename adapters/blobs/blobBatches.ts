import { RestError, type ContainerClient } from '@azure/storage-blob';
import { callStorage, mapStorageError } from './storageErrors';

/** Subrequests one blob batch may hold (the service's limit). */
const BATCH_MAX = 256;

/**
 * Deletes blobs of one container with their snapshots, 256 to a blob batch request: a drain
 * deletes every staged batch it applied (and its claim-check payload), and one request each was
 * 128 requests per merged group on a storage account whose requests are what page writes queue
 * behind. A subrequest's 404 counts as already deleted; any other failure fails the call (the
 * rest of that batch may have been deleted: deleting again is harmless).
 */
export async function deleteInBatches(
  container: ContainerClient,
  names: readonly string[],
): Promise<number> {
  let deleted = 0;
  const batches = container.getBlobBatchClient();
  for (let at = 0; at < names.length; at += BATCH_MAX) {
    const clients = names.slice(at, at + BATCH_MAX).map((n) => container.getBlobClient(n));
    const res = await callStorage(() =>
      batches.deleteBlobs(clients, { deleteSnapshots: 'include' }),
    );
    for (const sub of res.subResponses) {
      if (sub.status >= 200 && sub.status < 300) deleted++;
      else if (sub.status !== 404) {
        throw mapStorageError(
          new RestError(sub.errorCode ?? `blob batch delete answered ${sub.status}`, {
            statusCode: sub.status,
            code: sub.errorCode,
          }),
        );
      }
    }
  }
  return deleted;
}
