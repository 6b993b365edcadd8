import type { RetentionPolicy } from './ports';

export const HOUR = 3600_000;
const bucketMs = { hourly: HOUR, daily: 24 * HOUR, weekly: 7 * 24 * HOUR } as const;

/** Which points a policy keeps at `now` (pure; points newest first). */
export function pointsToKeep(
  points: readonly { id: string; time: string }[],
  policy: RetentionPolicy,
  now: number,
): Set<string> {
  const keep = new Set<string>();
  if (points.length) keep.add(points[0]!.id); // never drop the newest point
  const seenBuckets = new Set<string>();
  for (const p of points) {
    const t = Date.parse(p.time);
    const age = now - t;
    if (age <= policy.retentionHours * HOUR) {
      keep.add(p.id);
      continue;
    }
    for (const rule of policy.thinning) {
      if (age > rule.forHours * HOUR) continue;
      const bucket = `${rule.keep}:${Math.floor(t / bucketMs[rule.keep])}`;
      // Newest first: the first point seen in a bucket is its newest.
      if (!seenBuckets.has(bucket)) {
        seenBuckets.add(bucket);
        keep.add(p.id);
      }
    }
  }
  return keep;
}
