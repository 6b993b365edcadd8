import type { BenchRow } from './row';
import { quantile, type Phase } from './rpoChurn';
import type { TimedPoint } from './rpoPoints';
import type { HydrateLine } from './rpoStack';

const MiB = 1024 * 1024;

/** What the report needs of a phase besides its writes and the points. */
export interface PhaseContext {
  /** Seconds from the phase's last ack until a durable point covered it. */
  drainS: number;
  load: string;
  cpuNote: string;
  hydrated: { seconds: number; log: HydrateLine[] };
  intervalS: string;
}

/**
 * One phase's rows: RPO p50 and p99 (ack → the first point after it durable), hydration lag
 * (durable → materialized) with its trend, and page writes per MB of churn.
 */
export function phaseRows(ph: Phase, points: TimedPoint[], at: PhaseContext): BenchRow[] {
  // First point whose bookmark was appended after the ack (binary search by time).
  const rpo = ph.acks
    .map((a) => {
      let lo = 0;
      let hi = points.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (points[mid]!.time > a) hi = mid;
        else lo = mid + 1;
      }
      return lo < points.length ? (points[lo]!.publishedAt - a) / 1000 : Infinity;
    })
    .sort((a, b) => a - b);
  const third = (from: number, to: number) =>
    quantile(
      ph.acks
        .map((a, k) => ({ a, k }))
        .filter(
          ({ a }) =>
            a >= ph.start + (from * (ph.end - ph.start)) / 3 &&
            a < ph.start + (to * (ph.end - ph.start)) / 3,
        )
        .map(({ a }) => {
          const p = points.find((x) => x.time > a);
          return p ? (p.publishedAt - a) / 1000 : Infinity;
        })
        .sort((a, b) => a - b),
      0.5,
    );
  const lat = [...ph.latencies].sort((a, b) => a - b);
  const achieved = ph.bytes / (ph.end - ph.start) / 1e3;
  const bl = ph.backlog;
  const maxJournal = Math.max(0, ...bl.map((b) => b.journal)) / MiB;
  const endJournal = (bl[bl.length - 1]?.journal ?? 0) / MiB;
  const maxSpool = Math.max(0, ...bl.map((b) => b.spool)) / MiB;
  const p50 = quantile(rpo, 0.5);
  const p90 = quantile(rpo, 0.9);
  const p99 = quantile(rpo, 0.99);
  const max = rpo[rpo.length - 1]!;
  const firstThird = third(0, 1);
  const lastThird = third(2, 3);
  const keptUp = lastThird <= firstThird * 1.5 + 0.5 && at.drainS < 10;
  // What the pipeline adds after the cut (the rest of the RPO is the wait for the cut).
  const cutLag = points
    .filter((p) => p.time >= ph.start && p.time <= ph.end)
    .map((p) => p.publishedAt - p.time)
    .sort((a, b) => a - b);
  const common = `${ph.writes} writes of 4–64 KiB, ${achieved.toFixed(1)} MB/s achieved over ${((ph.end - ph.start) / 1000).toFixed(0)} s, bookmark every ${at.intervalS} s; p50/p90/p99/max ${p50.toFixed(2)}/${p90.toFixed(2)}/${p99.toFixed(2)}/${max.toFixed(2)} s; ack p99 ${quantile(lat, 0.99)} ms; RPO p50 first third ${firstThird.toFixed(2)} s, last third ${lastThird.toFixed(2)} s; cut → durable p50 ${(quantile(cutLag, 0.5) / 1000).toFixed(2)} s, p90 ${(quantile(cutLag, 0.9) / 1000).toFixed(2)} s; journal backlog max ${maxJournal.toFixed(0)} MiB, end ${endJournal.toFixed(0)} MiB, spool max ${maxSpool.toFixed(0)} MiB; ${keptUp ? 'kept up' : 'FELL BEHIND'}; load ${at.load}; CPU during the phase: ${at.cpuNote}`;
  console.error(`bench: rpo ${ph.rateMBs} MB/s: ${common}`);
  // Hydration: lag of the phase's points (durable → materialized), its trend, and the page
  // writes the phase's churn cost (from the host's hydrate lines).
  const mine = points.filter((p) => p.time >= ph.start && p.time <= ph.end);
  const lags = mine.map((p) =>
    p.hydratedAt === undefined ? Infinity : (p.hydratedAt - p.publishedAt) / 1000,
  );
  const merged = mine.filter((p) => p.merged).length;
  const sortedLags = [...lags].sort((a, b) => a - b);
  const lagThird = (k: number) =>
    quantile(
      lags
        .slice(Math.floor((k * lags.length) / 3), Math.floor(((k + 1) * lags.length) / 3))
        .sort((a, b) => a - b),
      0.5,
    );
  const hl = at.hydrated;
  const writes = hl.log.reduce((n, l) => n + l.pageWrites + l.clears, 0);
  const readBacks = hl.log.reduce((n, l) => n + l.readBacks, 0);
  const perMB = writes / (ph.bytes / 1e6);
  const lagFirst = lagThird(0);
  const lagLast = lagThird(2);
  const bounded = lagLast <= lagFirst * 1.5 + 1;
  const rpoTarget = ph.rateMBs >= 50 ? 5 : 1.5;
  return [
    {
      name: `rpo p50 at ${ph.rateMBs} MB/s churn (ack → point durable)`,
      value: p50,
      unit: 's',
      baselineName: 'target p50',
      baselineValue: 1.5,
      ratio: p50 / 1.5,
      note: `lower is better; ${common}`,
    },
    {
      name: `rpo p99 at ${ph.rateMBs} MB/s churn`,
      value: p99,
      unit: 's',
      baselineName: 'target p99',
      baselineValue: 5,
      ratio: p99 / 5,
      note: `lower is better; p90 ${p90.toFixed(2)} s, max ${max.toFixed(2)} s; target at this rate ${rpoTarget} s`,
    },
    {
      name: `hydration lag at ${ph.rateMBs} MB/s (durable → materialized), p50`,
      value: quantile(sortedLags, 0.5),
      unit: 's',
      baselineName: 'lag p50 first third of the phase',
      baselineValue: lagFirst,
      ratio: lagLast / Math.max(lagFirst, 0.001),
      note: `last third ${lagLast.toFixed(2)} s, max ${sortedLags[sortedLags.length - 1]?.toFixed(2)} s over ${mine.length} points in ${(ph.end - ph.start) / 1000} s (${merged} merged into a later one while catching up); ${bounded ? 'bounded' : 'GROWING'}; ratio = last third ÷ first third; all hydrated ${(hl.seconds - (ph.end - ph.start) / 1000).toFixed(1)} s after the phase`,
    },
    {
      name: `page writes per MB of random churn at ${ph.rateMBs} MB/s`,
      value: perMB,
      unit: 'req/MB',
      baselineName: 'writes in the phase (4–64 KiB each)',
      baselineValue: ph.writes / (ph.bytes / 1e6),
      ratio: perMB / (ph.writes / (ph.bytes / 1e6)),
      note: `lower is better; ${writes} page writes + clears for ${(ph.bytes / 1e6).toFixed(0)} MB (${hl.log.length} drains), read-backs ${readBacks}; needed at this churn ${(perMB * ph.rateMBs).toFixed(0)}/s (target ≤ 500/s at 50 MB/s), achieved over the hydration ${(writes / hl.seconds).toFixed(0)}/s`,
    },
  ];
}

/**
 * Per bookmark: cut → acked by Event Hubs (agent: journal source, batcher, spool, send; stamped
 * by the agent when acknowledged; sampled every 250 ms from the status file, which is rewritten
 * every second, so not every bookmark is seen) → durable (cloud).
 */
export function bookmarkSplit(points: TimedPoint[], sentAt: Map<string, number>): string {
  const split = points
    .filter((p) => sentAt.has(p.id))
    .map((p) => ({
      agent: sentAt.get(p.id)! - p.time,
      cloud: p.publishedAt - sentAt.get(p.id)!,
    }));
  const q = (xs: number[], k: number) =>
    quantile(
      [...xs].sort((a, b) => a - b),
      k,
    ) / 1000;
  const agentLag = split.map((x) => x.agent);
  const cloudLag = split.map((x) => x.cloud);
  return `per bookmark (${split.length} sampled): cut→sent p50 ${q(agentLag, 0.5).toFixed(2)} s, p90 ${q(agentLag, 0.9).toFixed(2)} s, max ${q(agentLag, 1).toFixed(2)} s; sent→durable p50 ${q(cloudLag, 0.5).toFixed(2)} s, p90 ${q(cloudLag, 0.9).toFixed(2)} s, max ${q(cloudLag, 1).toFixed(2)} s`;
}

/** The spacing of the points against the policy's interval, with the run's other notes. */
export function pointsRow(points: TimedPoint[], intervalS: string, notes: string[]): BenchRow {
  const gaps = points
    .slice(1)
    .map((p, i) => p.time - points[i]!.time)
    .sort((a, b) => a - b);
  const spacing = quantile(gaps, 0.5) / 1000;
  const span = (points[points.length - 1]!.time - points[0]!.time) / 1000;
  return {
    name: 'rpo: points published (bookmark spacing p50/max)',
    value: spacing,
    unit: 's',
    baselineName: 'policy interval',
    baselineValue: Number(intervalS),
    ratio: spacing / Number(intervalS),
    note: [
      `${points.length} points over ${span.toFixed(0)} s, max gap ${(Math.max(...gaps) / 1000).toFixed(2)} s`,
      ...notes,
    ].join('; '),
  };
}
