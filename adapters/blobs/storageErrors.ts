import { RestError } from '@azure/storage-blob';
import { conflict, HavenError, transient } from '../../core/errors';

/** Whether a storage call failed with this HTTP status (raw SDK error or mapped). */
export function isStatus(e: unknown, status: number): boolean {
  if (e instanceof RestError) return e.statusCode === status;
  if (e instanceof HavenError) return e.details?.status === status;
  return false;
}

/** The storage error code of a failed call (raw SDK error or mapped), '' if it has none. */
export function storageCode(e: unknown): string {
  if (e instanceof RestError)
    return (e.code ?? (e.details as { errorCode?: string } | undefined)?.errorCode ?? '') as string;
  if (e instanceof HavenError) return String(e.details?.code ?? '');
  return '';
}

/**
 * Whether a create-if-absent (`If-None-Match: *`) failed because the blob is there: 409
 * BlobAlreadyExists, or a 412 (what a write condition answers). Any other 409 is a refusal of
 * the write itself (a full in-memory emulator, a container being deleted, a lease…): answering
 * 'exists' to one would count a batch as staged that no blob holds.
 */
export function isAlreadyExists(e: unknown): boolean {
  return (isStatus(e, 409) && storageCode(e) === 'BlobAlreadyExists') || isStatus(e, 412);
}

/** Runs one storage call, its failure mapped onto the blob port's contract. */
export async function callStorage<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw mapStorageError(e);
  }
}

/** Maps SDK errors onto the port's contract; keeps the status for callers that branch on it. */
export function mapStorageError(e: unknown): unknown {
  if (e instanceof HavenError) return e;
  if (e instanceof RestError) {
    const status = e.statusCode;
    const code = storageCode(e);
    // Azurite's in-memory store refuses writes once full until its next collection: a
    // capacity refusal that passes, as Azure's 503 ServerBusy does, not a state conflict.
    if (code === 'MemoryExtentStoreAtSizeLimit')
      return transient(`storage full for now: ${e.message}`, e);
    if (status === 404)
      return new HavenError('not-found', `blob not found (${code})`, { status, code });
    if (status === 409 || status === 412)
      return conflict(`storage refused the operation: ${code || status}`, { status, code });
    if (status === undefined || status === 408 || status === 429 || status >= 500)
      return transient(`storage unavailable: ${code || e.message}`, e);
    return new HavenError('internal', `storage error ${status} ${code}`, { status, code });
  }
  const code = (e as { code?: string })?.code;
  if (isNetworkError(e)) return transient(`storage unreachable: ${code}`, e);
  if (e instanceof Error && CUT_SHORT.test(e.message))
    return transient(`storage download cut short: ${e.message}`, e);
  if ((e as { name?: string })?.name === 'AbortError') return transient('storage call aborted', e);
  return e;
}

/**
 * How the storage SDK fails a download whose body stopped short: its download stream once the
 * body broke off more times than `maxRetryRequests`, `downloadToBuffer` when a block's body
 * ends early or takes over 100 s. It replaces the network error behind them with a plain
 * Error, so only its message says what happened.
 */
const CUT_SHORT =
  /^(Data corruption failure: received less data|The operation cannot be completed in timeout|Stream drains before getting enough data)/;

/** Whether a call failed to reach storage at all (connection refused, reset, timed out, …). */
export function isNetworkError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return (
    typeof code === 'string' &&
    /ECONN|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|REQUEST_SEND_ERROR/.test(code)
  );
}
