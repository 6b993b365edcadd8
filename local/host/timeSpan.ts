/** Parses a .NET TimeSpan (`hh:mm:ss[.fff]`, `d.hh:mm:ss`) to milliseconds; undefined if not one. */
export function parseTimeSpan(s: string): number | undefined {
  const m = /^\s*(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?\s*$/.exec(s);
  if (!m) return undefined;
  const [, d, h, min, sec, frac] = m;
  const ms = frac ? Number(`0.${frac}`) * 1000 : 0;
  return (
    ((Number(d ?? 0) * 24 + Number(h)) * 60 + Number(min)) * 60_000 + Number(sec ?? 0) * 1000 + ms
  );
}

/** A duration as host.json (TimeSpan string), the RPC layer (`{ seconds, nanos }`) or ms give it. */
export function durationMs(v: unknown, fallback: number): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return parseTimeSpan(v) ?? fallback;
  if (v && typeof v === 'object') {
    const o = v as {
      seconds?: number | string;
      nanos?: number;
      milliseconds?: number;
      minutes?: number;
      hours?: number;
    };
    if (o.seconds !== undefined || o.nanos !== undefined)
      return Number(o.seconds ?? 0) * 1000 + (o.nanos ?? 0) / 1e6;
    return (o.milliseconds ?? 0) + ((o.minutes ?? 0) + (o.hours ?? 0) * 60) * 60_000;
  }
  return fallback;
}
