import { RestError, type BlobClient } from '@azure/storage-blob';
import { notFound, transient } from '../../core/errors';
import { propertiesOf } from './blobReads';
import { mapStorageError } from './storageErrors';

/**
 * Server-side copies inside one account: authorized by our own credential, no bytes through
 * this process (Azure copies inside the storage service, page ranges only, so a sparse
 * replica copies fast; Azurite shares the source's extents).
 */

async function copyFromUrl(
  to: BlobClient,
  from: string,
  what: string,
  options: Parameters<BlobClient['beginCopyFromURL']>[1] = {},
): Promise<void> {
  const poller = await to.beginCopyFromURL(from, { ...options, intervalInMs: 100 });
  const r = await poller.pollUntilDone();
  if (r.copyStatus && r.copyStatus !== 'success')
    throw transient(`copy of ${what} ended ${r.copyStatus}`);
}

/** Copies `from` while it still has `etag`, unless the target exists. */
export async function copyIfAbsent(
  from: BlobClient,
  etag: string,
  to: BlobClient,
  metadata?: Record<string, string>,
): Promise<'created' | 'exists' | 'source-changed'> {
  try {
    await copyFromUrl(to, from.url, from.name, {
      metadata,
      conditions: { ifNoneMatch: '*' },
      sourceConditions: { ifMatch: etag },
    });
    return 'created';
  } catch (e) {
    const status = (e as RestError).statusCode;
    const code = (e as RestError).code ?? '';
    // Target exists: 409 BlobAlreadyExists; any other 409 (a pending copy onto it, a write
    // refused) is not an answer about the target.
    if (status === 409 && code === 'BlobAlreadyExists') return 'exists';
    if (status === 404) return 'source-changed'; // source gone
    if (status === 412) {
      // Azure says SourceConditionNotMet, Azurite ConditionNotMet for both conditions: the
      // target's existence tells them apart.
      if (code === 'SourceConditionNotMet') return 'source-changed';
      return (await propertiesOf(to)) ? 'exists' : 'source-changed';
    }
    throw mapStorageError(e);
  }
}

/** Copies `from` (a blob or a snapshot of one) over the target; `what` names it in errors. */
export async function copyOver(from: BlobClient, to: BlobClient, what: string): Promise<void> {
  try {
    await copyFromUrl(to, from.url, from.name);
  } catch (e) {
    if ((e as RestError).statusCode === 404) throw notFound('Blob', what);
    throw mapStorageError(e);
  }
}
