import { HavenError, type ErrorKind } from './errors';

const problemKinds = new Set<ErrorKind>([
  'validation',
  'unauthenticated',
  'forbidden',
  'not-found',
  'conflict',
  'precondition',
  'too-large',
  'integrity',
  'transient',
  'internal',
]);

/**
 * A problem+json answer of the API back into the HavenError it was made from (the client's
 * side of functions/http/problem.ts): the kind its `type` names, else one the HTTP status
 * implies; `fallback` is the message when the answer has no detail or title.
 */
export function problemError(status: number, body: unknown, fallback: string): HavenError {
  const pr = (body ?? {}) as { type?: string; title?: string; detail?: string };
  const fromType = pr.type?.split('/').pop() as ErrorKind | undefined;
  const kind: ErrorKind =
    fromType && problemKinds.has(fromType)
      ? fromType
      : status === 401
        ? 'unauthenticated'
        : status === 403
          ? 'forbidden'
          : status === 404
            ? 'not-found'
            : status === 409
              ? 'conflict'
              : status >= 500 || status === 429
                ? 'transient'
                : 'validation';
  return new HavenError(kind, pr.detail ?? pr.title ?? fallback, { status });
}
