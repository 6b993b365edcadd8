import { TableClient } from '@azure/data-tables';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { createDurableDriver } from '../../local/durable/driver';
import { deriveSystemKey } from '../../local/durable/httpApi';
import { startHost } from '../../local/host/startHost';
import { startAzurite } from '../../local/stack/azurite';
import type { BenchRow } from './row';

/**
 * The local durable backend driving the real durable-functions SDK through the real host,
 * on an in-memory Azurite:
 *  - orchestrations per second: N instances of a 3-activity sequence started at once;
 *  - activity step latency: one orchestration calling K activities one after another
 *    (schedule → run → record → replay), per step.
 * Baseline, same Azurite, same run: a bare table insert round trip (what one durable state
 * change costs at minimum; an activity step needs about four of them).
 */
const KEY = 'bench-master-key-0123456789abcdef';

export async function run({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  const azurite = await startAzurite();
  const stateDir = mkdtempSync(join(tmpdir(), 'durable-bench-'));
  const driver = createDurableDriver({
    hubName: 'BenchHub',
    maxConcurrentOrchestrations: 16,
    maxConcurrentActivities: 32,
  });
  const host = await startHost({
    entry: [join(__dirname, `durableApp${extname(__filename)}`)],
    stateDir,
    masterKey: KEY,
    settings: { AzureWebJobsStorage: azurite.connectionString, HAVEN_ADMIN_KEY: KEY },
    drivers: [driver],
    log: { info() {}, warn() {}, error() {} },
  });
  const code = deriveSystemKey(KEY);
  const hooks = `${host.baseUrl}/runtime/webhooks/durabletask`;
  const start = async (name: string, id: string, input?: unknown) => {
    const res = await fetch(`${hooks}/orchestrators/${name}/${id}?code=${code}`, {
      method: 'POST',
      body: input === undefined ? '' : JSON.stringify(input),
    });
    if (res.status !== 202) throw new Error(`start ${name}: ${res.status}`);
  };
  const status = async (id: string) =>
    (
      (await (await fetch(`${hooks}/instances/${id}?code=${code}`)).json()) as {
        runtimeStatus: string;
      }
    ).runtimeStatus;
  try {
    // Baseline: sequential single-entity inserts into a table of the same Azurite.
    const table = TableClient.fromConnectionString(azurite.connectionString, 'BenchBaseline', {
      allowInsecureConnection: true,
    });
    await table.createTable();
    const inserts = quick ? 200 : 1000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < inserts; i++)
      await table.createEntity({ partitionKey: 'p', rowKey: String(i), D: 'x'.repeat(200) });
    const insertMs = Number(process.hrtime.bigint() - t0) / 1e6 / inserts;

    // Warm up (module loading, first replay).
    await start('BenchSequence', 'warm');
    await driver.backend!.whenIdle();

    const n = quick ? 40 : 200;
    const t1 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: n }, (_, i) => start('BenchSequence', `seq-${i}`)));
    await driver.backend!.whenIdle();
    const seconds = Number(process.hrtime.bigint() - t1) / 1e9;
    for (const id of ['seq-0', `seq-${n - 1}`])
      if ((await status(id)) !== 'Completed') throw new Error(`${id} not completed`);
    const orchPerSecond = n / seconds;

    const steps = quick ? 20 : 100;
    const t2 = process.hrtime.bigint();
    await start('BenchSteps', 'steps', steps);
    await driver.backend!.whenIdle();
    if ((await status('steps')) !== 'Completed') throw new Error('steps not completed');
    const stepMs = Number(process.hrtime.bigint() - t2) / 1e6 / steps;

    return [
      {
        name: `durable orchestrations/s (${n} × 3-activity sequence, concurrent)`,
        value: orchPerSecond,
        unit: 'orch/s',
        baselineName: 'Azurite table inserts/s (sequential)',
        baselineValue: 1000 / insertMs,
        ratio: orchPerSecond / (1000 / insertMs),
        note: 'each orchestration = 13 durable state changes (1 start, 4 episodes, 3 activity results…); higher is better',
      },
      {
        name: `durable activity step latency (${steps} sequential steps)`,
        value: stepMs,
        unit: 'ms',
        baselineName: 'Azurite table insert round trip',
        baselineValue: insertMs,
        ratio: stepMs / insertMs,
        note: 'ratio = round trips per step (episode read+commit, activity commit, SDK replay); lower is better',
      },
    ];
  } finally {
    await host.stop();
    await azurite.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  void run({ quick: process.argv.includes('--quick') }).then((rows) => console.table(rows));
}
