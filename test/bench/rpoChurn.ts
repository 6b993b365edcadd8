import { randomInt } from 'node:crypto';
import type { PacedNbdClient } from './rpoNbd';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Phase {
  rateMBs: number;
  seconds: number;
  writes: number;
  bytes: number;
  acks: number[];
  latencies: number[];
  start: number;
  end: number;
  /** Journal retained bytes and spool bytes sampled every second. */
  backlog: Array<{ at: number; journal: number; spool: number }>;
}

export function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Random 4–64 KiB writes (4 KiB aligned) at `rateMBs`, at most `depth` in flight. */
export async function churn(
  nbd: PacedNbdClient,
  rateMBs: number,
  seconds: number,
  pool: Buffer,
  sample: () => Promise<{ journal: number; spool: number }>,
): Promise<Phase> {
  const depth = 64;
  const rate = rateMBs * 1e6;
  const blocks = Math.floor(nbd.size / 4096);
  const phase: Phase = {
    rateMBs,
    seconds,
    writes: 0,
    bytes: 0,
    acks: [],
    latencies: [],
    start: Date.now(),
    end: 0,
    backlog: [],
  };
  const pending: Promise<void>[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      try {
        phase.backlog.push({ at: Date.now(), ...(await sample()) });
      } catch {
        /* busy */
      }
      await sleep(250);
    }
  })();
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    const due = (rate * (Date.now() - t0)) / 1000;
    while (phase.bytes < due && nbd.inflight < depth) {
      const len = 4096 * (1 + randomInt(16));
      const off = 4096 * randomInt(blocks - 16);
      const src = 4096 * randomInt((pool.length - len) / 4096);
      const sent = Date.now();
      phase.writes++;
      phase.bytes += len;
      pending.push(
        nbd.write(off, pool.subarray(src, src + len)).then((at) => {
          phase.acks.push(at);
          phase.latencies.push(at - sent);
        }),
      );
    }
    await sleep(2);
  }
  await Promise.all(pending);
  phase.end = Date.now();
  sampling = false;
  await sampler;
  return phase;
}
