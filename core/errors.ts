/**
 * The closed set of failures Haven reports. Every layer maps to these: HTTP turns them into
 * problem+json, sagas decide retry vs compensate from `retryable`, the agent prints `message`.
 */
export type ErrorKind =
  | 'validation' // input malformed or out of range (400)
  | 'unauthenticated' // no or wrong credential (401)
  | 'forbidden' // authenticated but not allowed (403)
  | 'not-found' // (404)
  | 'conflict' // state does not allow it, duplicate with other content (409)
  | 'precondition' // stale ETag / If-Match (412)
  | 'too-large' // payload over limit (413)
  | 'integrity' // digest/auth-tag mismatch, sequence conflict: data refused, disk stopped
  | 'transient' // dependency unavailable, throttled, timeout: retry
  | 'internal'; // a bug

const retryableKinds: ReadonlySet<ErrorKind> = new Set(['transient']);

export class HavenError extends Error {
  readonly kind: ErrorKind;
  readonly retryable: boolean;
  /** Extra machine-readable facts (field errors, ids); never secrets. */
  readonly details?: Record<string, unknown>;

  constructor(
    kind: ErrorKind,
    message: string,
    details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HavenError';
    this.kind = kind;
    this.retryable = retryableKinds.has(kind);
    this.details = details;
  }
}

export const isHavenError = (e: unknown): e is HavenError => e instanceof HavenError;

export const validation = (msg: string, details?: Record<string, unknown>) =>
  new HavenError('validation', msg, details);
export const unauthenticated = (msg = 'Missing or invalid credentials.') =>
  new HavenError('unauthenticated', msg);
export const forbidden = (msg: string) => new HavenError('forbidden', msg);
export const notFound = (what: string, id: string) =>
  new HavenError('not-found', `${what} '${id}' does not exist.`, { id });
export const conflict = (msg: string, details?: Record<string, unknown>) =>
  new HavenError('conflict', msg, details);
export const precondition = (msg = 'The resource changed since it was read (ETag mismatch).') =>
  new HavenError('precondition', msg);
export const tooLarge = (msg: string) => new HavenError('too-large', msg);
export const integrity = (msg: string, details?: Record<string, unknown>) =>
  new HavenError('integrity', msg, details);
export const transient = (msg: string, cause?: unknown) =>
  new HavenError('transient', msg, undefined, { cause });
