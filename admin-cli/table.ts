/** Plain-text table: a header row and aligned columns; missing values print as '-'. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown): string =>
    v === undefined || v === null || v === '' ? '-' : Array.isArray(v) ? v.join(',') : String(v);
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
        `${k.padEnd(width)}  ${v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v)}`,
    )
    .join('\n');
}
