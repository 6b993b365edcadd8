import { HavenError, type ErrorKind } from '../../core/errors';

/** Failed-operation codes worth trying again (Azure's transient capacity and platform errors). */
const RETRYABLE_CODES = new Set([
  'InternalServerError',
  'InternalOperationError',
  'OperationInterrupted',
  'AllocationFailed',
  'ZonalAllocationFailed',
  'TooManyRequests',
  'RetryableError',
]);

export const isRetryableCode = (code: string): boolean => RETRYABLE_CODES.has(code);

/**
 * A synchronous ARM refusal (the clients' `RestError`: statusCode, code) as one of Haven's error
 * kinds, keeping Azure's code in `details.code` for people and tests.
 */
export function armError(e: unknown, what: string): HavenError {
  if (e instanceof HavenError) return e;
  const err = e as { statusCode?: number; code?: string; message?: string };
  const status = err.statusCode;
  const kind: ErrorKind =
    status === 404
      ? 'not-found'
      : status === 409
        ? 'conflict'
        : status === 400 || status === 413 || status === 416
          ? 'validation'
          : status === 401
            ? 'unauthenticated'
            : status === 403
              ? 'forbidden'
              : 'transient'; // 429, 5xx, no answer at all
  const code = err.code ?? (status ? `HTTP${status}` : 'NetworkError');
  return new HavenError(kind, `${what}: ${code}: ${err.message ?? String(e)}`, { code, status });
}

/** The code and message of a failed long-running operation ("The long-running operation has failed. <code>. <message>"). */
export function failedOperation(error: unknown): {
  code: string;
  message: string;
  retryable: boolean;
} {
  const message = (error as Error)?.message ?? String(error);
  const m = /has failed\.?\s+([A-Za-z][\w.]*)\.\s*([\s\S]*)$/.exec(message);
  const code = (error as { code?: string })?.code ?? m?.[1] ?? 'OperationFailed';
  return { code, message: m?.[2] ?? message, retryable: isRetryableCode(code) };
}
