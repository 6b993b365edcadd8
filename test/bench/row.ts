/** One line of the benchmark table: a Haven figure and the baseline it is compared with, measured in the same run. */
export interface BenchRow {
  /** What was measured, e.g. 'initial sync 2 GiB'. */
  name: string;
  value: number;
  unit: string;
  baselineName: string;
  baselineValue: number;
  /** value ÷ baseline (for rates higher is better; the note says so). */
  ratio: number;
  note?: string;
}

/** A benchmark module exports `run` returning its rows; test/bench/main.ts runs them all and prints one table. */
export type BenchModule = { run: (opts: { quick: boolean }) => Promise<BenchRow[]> };
