import { isHavenError, type ErrorKind } from '../errors';

/** A refusal of the event: recorded, never retried. */
export class Rejection extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** Runs a check whose HavenErrors mean "this event is bad" (not "a dependency failed"). */
export async function check<T>(fn: () => T | Promise<T>, prefix = ''): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isHavenError(e) && !e.retryable) throw new Rejection(e.kind, prefix + e.message);
    throw e;
  }
}
