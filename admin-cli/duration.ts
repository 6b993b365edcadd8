const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** `90`, `5s`, `30m`, `1h`, `7d`, `1w` → seconds (integer). Throws on anything else. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhdw]?)$/.exec(text.trim());
  if (!m) throw new Error(`Invalid duration '${text}' (use e.g. 5s, 30m, 1h, 7d).`);
  return Number(m[1]) * units[m[2] || 's']!;
}

export function formatDuration(seconds: number): string {
  for (const [u, n] of [
    ['w', 604800],
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= n && seconds % n === 0) return `${seconds / n}${u}`;
  }
  return `${seconds}s`;
}
