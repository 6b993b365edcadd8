import { RestError } from '@azure/storage-blob';
import { conflict, HavenError, transient } from '../../core/errors';

/** Whether a storage call failed with this HTTP status (raw SDK error or mapped). */
export function isStatus(e: unknown, status: number): boolean {
  if (e instanceof RestError) return e.statusCode === status;
  if (e instanceof HavenError) return e.details?.status === status;
  return false;
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
    const code = (e.code ??
      (e.details as { errorCode?: string } | undefined)?.errorCode ??
      '') as string;
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
  if ((e as { name?: string })?.name === 'AbortError') return transient('storage call aborted', e);
  return e;
}

/** Whether a call failed to reach storage at all (connection refused, reset, timed out, …). */
export function isNetworkError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return (
    typeof code === 'string' &&
    /ECONN|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|REQUEST_SEND_ERROR/.test(code)
  );
}
