import type { HttpResponseInit, InvocationContext } from '@azure/functions';
import { HavenError, type ErrorKind } from '../../core/errors';

const statusByKind: Record<ErrorKind, number> = {
  validation: 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  precondition: 412,
  'too-large': 413,
  integrity: 422,
  transient: 503,
  internal: 500,
};

const titleByKind: Record<ErrorKind, string> = {
  validation: 'Invalid request',
  unauthenticated: 'Unauthenticated',
  forbidden: 'Forbidden',
  'not-found': 'Not found',
  conflict: 'Conflict',
  precondition: 'Precondition failed',
  'too-large': 'Payload too large',
  integrity: 'Integrity check failed',
  transient: 'Service unavailable',
  internal: 'Internal error',
};

export const PROBLEM_BASE = 'https://haven.dev/problems/';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: unknown;
  [k: string]: unknown;
}

/** Maps any error to `application/problem+json`; unknown errors become 500 without detail. */
export function problemResponse(err: unknown, context?: InvocationContext): HttpResponseInit {
  const e =
    err instanceof HavenError ? err : new HavenError('internal', 'An unexpected error occurred.');
  if (!(err instanceof HavenError) || e.kind === 'internal' || e.kind === 'transient') {
    // Log the cause for operators; messages of HavenErrors never contain secrets.
    context?.error(`request failed: ${e.kind}`, err instanceof Error ? err.stack : String(err));
  }
  const status = statusByKind[e.kind];
  const { errors, ...rest } = e.details ?? {};
  const body: Problem = {
    type: `${PROBLEM_BASE}${e.kind}`,
    title: titleByKind[e.kind],
    status,
    detail: e.message,
    ...(errors !== undefined ? { errors } : {}),
    ...rest,
  };
  return {
    status,
    headers: {
      'content-type': 'application/problem+json',
      ...(e.kind === 'transient' ? { 'retry-after': '5' } : {}),
    },
    body: JSON.stringify(body),
  };
}
