/** What a failed boot reports of the guest's serial console: its last lines. */
export const CONSOLE_TAIL_LINES = 20;
export const CONSOLE_TAIL_CHARS = 2000;

/**
 * The end of a serial console log, as a job can carry it: the last `CONSOLE_TAIL_LINES` lines,
 * at most `CONSOLE_TAIL_CHARS` characters, control characters (escape sequences, NULs of a
 * console that was never written) removed; undefined when nothing printable is left.
 */
export function consoleTail(log: string | undefined): string | undefined {
  if (!log) return undefined;
  const clean = log
    .replace(/\r\n?/g, '\n')
    // eslint-disable-next-line no-control-regex -- control characters are what is removed
    .replace(/\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]/g, '')
    .replace(/\s+$/, '');
  const lines = clean.split('\n').slice(-CONSOLE_TAIL_LINES).join('\n');
  const tail = lines.length > CONSOLE_TAIL_CHARS ? lines.slice(-CONSOLE_TAIL_CHARS) : lines;
  return tail.trim() ? tail : undefined;
}
