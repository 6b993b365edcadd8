/** The errors a recovery saga ends with, beyond any activity's own. */

/** An operator cancelled the operation: compensated like a failure, the job ends `cancelled`. */
export class SagaCancelled extends Error {}

/** A failure that leaves more in the failed job's result than its message (what to look at). */
export class SagaFailure extends Error {
  constructor(
    message: string,
    readonly result: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** An error as one line (job steps and messages carry one). */
export function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}
