/** A mistake in the command line (exit code 2, with a pointer to --help), not an API failure. */
export class UsageError extends Error {}

/** The value of a required positional or flag; a usage error naming `what` when missing. */
export const need = (v: string | undefined, what: string): string => {
  if (!v) throw new UsageError(`Missing ${what}.`);
  return v;
};
