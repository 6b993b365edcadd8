/**
 * Date arithmetic on the replay-safe orchestration clock (`context.df.currentUtcDateTime`).
 * Pure: the same input gives the same Date in every replay, which is why the lint rule
 * against `new Date` in orchestrations/ can be waived here, and only here.
 */
export function addMs(from: Date, ms: number): Date {
  // eslint-disable-next-line no-restricted-syntax -- derived from the replayed clock only
  return new Date(from.getTime() + ms);
}
