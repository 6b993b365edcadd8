import { extname, join } from 'node:path';
import { mapLimit } from '../../core/mapLimit';
import { addPoint, recoverableMachine } from '../support/recoverableMachine';
import { benchHost } from './benchHost';
import type { BenchRow } from './row';

/**
 * A plan of n machines (one group, the default fan-out of 10): test failover, then cleanup,
 * through the real host, durable backend (each machine a sub-orchestration), Cosmos and Azurite
 * against the file-backed target (no VM: ARM operations end on their second poll, the probe
 * answers at once): the plan's own orchestration cost at scale. Baseline, same run: the same n
 * machines' test failovers and cleanups started at once through the machine API (no plan).
 */
const ENDED = ['succeeded', 'partially-succeeded', 'failed', 'cancelled'];

export async function planOrchestration(n: number): Promise<BenchRow[]> {
  const bench = await benchHost('plan-orch');
  const { root, call } = bench;
  const machines = await mapLimit(
    Array.from({ length: n }, (_, i) => i),
    8,
    async () => {
      const id = await recoverableMachine(root, { sda: 1024 * 1024 });
      await addPoint(root, id, 'p1');
      return id;
    },
  );
  await bench.start(join(__dirname, `planBenchApp${extname(__filename)}`), 'PlanBench');
  const ended = async (ids: string[]) => {
    const deadline = Date.now() + 15 * 60_000;
    for (const id of ids)
      for (;;) {
        if (Date.now() > deadline) throw new Error(`job ${id} did not end within 15 min`);
        const j = await call('GET', `jobs/${id}`);
        if (ENDED.includes(String(j.state))) {
          if (j.state !== 'succeeded')
            throw new Error(`job ${id} ${String(j.state)}: ${JSON.stringify(j.error)}`);
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
  };
  const timed = async (start: () => Promise<string[]>) => {
    const t = process.hrtime.bigint();
    await ended(await start());
    return Number(process.hrtime.bigint() - t) / 1e9;
  };
  try {
    await call('POST', 'plans', { name: 'big', groups: [{ id: 1, machines }] });
    const planOp = (op: string) => async () => [
      String((await call('POST', `plans/big/${op}`, {})).id),
    ];
    const direct = (op: string) => async () =>
      Promise.all(
        machines.map(async (m) => String((await call('POST', `machines/${m}/${op}`, {})).id)),
      );
    // Warm-up (module loading, first replays), then the plan, then the same machines without it.
    await timed(planOp('test-failover'));
    await timed(planOp('test-failover-cleanup'));
    const test = await timed(planOp('test-failover'));
    const cleanup = await timed(planOp('test-failover-cleanup'));
    const directTest = await timed(direct('test-failover'));
    const directCleanup = await timed(direct('test-failover-cleanup'));
    return [
      {
        name: `plan of ${n} machines: test failover + cleanup, no VM (file target)`,
        value: test + cleanup,
        unit: 's',
        baselineName: `${n} machine jobs started at once, no plan`,
        baselineValue: directTest + directCleanup,
        ratio: (test + cleanup) / (directTest + directCleanup),
        note: `test ${test.toFixed(1)} s + cleanup ${cleanup.toFixed(1)} s; fan-out 10 (the baseline has none); lower is better`,
      },
    ];
  } finally {
    await bench.stop();
  }
}
