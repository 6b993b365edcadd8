/**
 * Control characters shown as `\xNN`: values come from agents (a hostname) and other callers,
 * and a terminal escape sequence in one must not reach the operator's terminal as one.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
export const printable = (s: string): string =>
  s.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** Plain-text table: a header row and aligned columns; missing values print as '-'. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown): string =>
    v === undefined || v === null || v === ''
      ? '-'
      : printable(Array.isArray(v) ? v.join(',') : String(v));
  const data = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...data.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...data.map(line)].join('\n');
}

/** `key: value` lines for one object (nested objects as JSON). */
export function details(obj: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(obj).map((k) => k.length));
  return Object.entries(obj)
    .map(
      ([k, v]) =>
        `${k.padEnd(width)}  ${printable(v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v))}`,
    )
    .join('\n');
}
