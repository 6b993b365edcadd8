import { appendFileSync } from 'node:fs';

/** A timed log line of the host or the agent: the phases of a replication run are read from them. */
export interface Mark {
  at: number;
  src: 'host' | 'agent';
  msg: string;
}

/** Waits for the host's log line of the drain that published a point (it ends with the deletes). */
export async function drainLogged(marks: Mark[], from: number): Promise<void> {
  for (const until = Date.now() + 60_000; Date.now() < until;) {
    if (marks.slice(from).some((m) => /^hydrate .*points /.test(m.msg))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the drain that published the point did not finish within 60 s');
}

/** Phase durations from host and agent log lines (ms since the agent started). */
export function breakdown(marks: Mark[]): Record<string, number> {
  const t0 = marks.find((m) => m.msg === 'agent started')!.at;
  const first = (re: RegExp) => marks.find((m) => re.test(m.msg))?.at;
  const last = (re: RegExp) => [...marks].reverse().find((m) => re.test(m.msg))?.at;
  const sum = (re: RegExp) =>
    marks
      .map((m) => re.exec(m.msg))
      .filter((x): x is RegExpExecArray => !!x)
      .reduce((n, x) => n + Number(x[1]), 0);
  const rel = (t?: number) => (t === undefined ? NaN : (t - t0) / 1000);
  return {
    'bookmark spooled (scan+encode+spool done)': rel(first(/^bookmark spooled/)),
    'bookmark sent (all events acked)': rel(first(/^bookmark sent/)),
    'first ingest done': rel(first(/^Executed 'ingest'/)),
    'last ingest done': rel(last(/^Executed 'ingest'/)),
    'ingest busy (sum of invocations)': sum(/^Executed 'ingest' \(Succeeded, (\d+) ms/) / 1000,
    'first hydrate done': rel(first(/^Executed 'hydrate'/)),
    'point published (hydrate with point)': rel(first(/^hydrate .*points /)),
    'hydrate busy (sum of invocations)': sum(/^Executed 'hydrate' \(Succeeded, (\d+) ms/) / 1000,
    'agent exited (point seen)': rel(last(/^agent exited/)),
  };
}

export function printBreakdown(label: string, b: Record<string, number>, marks: Mark[]): void {
  // HAVEN_BENCH_TRACE=file: every host/agent log line with its time, for a closer look.
  const trace = process.env.HAVEN_BENCH_TRACE;
  if (trace) {
    const t0 = marks.find((m) => m.msg === 'agent started')!.at;
    appendFileSync(
      trace,
      `## ${label}\n` +
        marks.map((m) => `${((m.at - t0) / 1000).toFixed(3)} ${m.src} ${m.msg}`).join('\n') +
        '\n',
    );
  }
  console.error(`bench: replication ${label}, seconds since the agent started:`);
  for (const [k, v] of Object.entries(b)) console.error(`  ${k.padEnd(42)} ${v.toFixed(2)}`);
}
