import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeBootableServerImage } from '../../local/images/bootableServer';
import { preparePlatform } from '../../local/vm/platform';
import { mapLimit } from '../../core/mapLimit';
import { adminApi, enrollmentToken, type AdminTarget } from '../support/adminApi';
import { enrollWithDisk } from '../support/machines';
import { agentJson } from '../support/procs';
import { commonAlert } from '../support/alertPayloads';
import { planOrchestration } from './planOrchestration';
import { withLocalStack } from './benchStack';
import type { BenchRow } from './row';

/**
 * Recovery plans (issue 13): an alert fails a plan of small bootable servers over on the local
 * stack (ARM endpoint, QEMU guests), timed from the alert's POST until every recovered server
 * answers its health probe; next to it, in the same run, the slowest machine's own recovery
 * job (import → probe), so the ratio is what the plan and the alert path add. Then the plan
 * orchestration at 50 machines without VMs (planOrchestration.ts).
 */
const MiB = 1024 * 1024;

type Job = {
  id: string;
  state: string;
  createdAt: string;
  updatedAt: string;
  result?: Record<string, unknown>;
};

async function untilEnded(stack: AdminTarget, id: string): Promise<Job> {
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`job ${id} did not end within 15 min`);
    const j = await adminApi<Job>(stack, 'GET', `jobs/${id}`);
    if (['succeeded', 'partially-succeeded', 'failed', 'cancelled'].includes(j.state)) return j;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function healthy(ip: string): Promise<boolean> {
  try {
    const r = await fetch(`http://${ip}/health`, { signal: AbortSignal.timeout(2000) });
    return r.status === 200;
  } catch {
    return false;
  }
}

async function alertToHealthy(n: number): Promise<BenchRow> {
  await preparePlatform();
  return withLocalStack('plan-bench-', async (stack, work) => {
    // n protected servers with a recovery point each (agents: three at a time).
    const machines = await mapLimit(
      Array.from({ length: n }, (_, i) => i),
      3,
      async (i) => {
        const dir = join(work, `m${i}`);
        mkdirSync(dir);
        const image = join(dir, 'server.img');
        makeBootableServerImage(image, { sizeBytes: 16 * MiB, hostname: `srv${i}` });
        const stateDir = join(dir, 'agent');
        const e = await enrollWithDisk({
          api: stack.apiUrl,
          token: await enrollmentToken(stack),
          stateDir,
          image,
        });
        await adminApi(stack, 'POST', `machines/${e.machineId}/protect`, {});
        await agentJson(['run', '--once', '--state-dir', stateDir]);
        return e.machineId;
      },
    );
    await adminApi(stack, 'POST', 'plans', {
      name: 'bench',
      maxParallel: n,
      groups: [{ id: 1, machines }],
    });
    await adminApi(stack, 'POST', 'alert-triggers', {
      name: 'bench',
      plan: 'bench',
      operation: 'failover',
      match: { rules: ['bench-down'] },
      graceSeconds: 0,
    });
    const t0 = process.hrtime.bigint();
    const r = await adminApi(
      stack,
      'POST',
      'alerts/azure-monitor',
      commonAlert({ alertId: 'bench-1', alertRule: 'bench-down' }),
    );
    const decision = await untilEnded(stack, r.receipt.decisionIds[0]);
    const planJobId = String(decision.result?.planJobId);
    const plan = await untilEnded(stack, planJobId);
    if (plan.state !== 'succeeded')
      throw new Error(`plan ${plan.state}: ${JSON.stringify(plan.result?.machines)}`);
    const ms = plan.result!.machines as { jobId: string; vm: { publicIp: string } }[];
    const deadline = Date.now() + 10 * 60_000;
    for (const m of ms)
      while (!(await healthy(m.vm.publicIp))) {
        if (Date.now() > deadline) throw new Error(`${m.vm.publicIp} never answered /health`);
        await new Promise((x) => setTimeout(x, 100));
      }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    let slowest = 0;
    for (const m of ms) {
      const j = await adminApi<Job>(stack, 'GET', `jobs/${m.jobId}`);
      slowest = Math.max(slowest, (Date.parse(j.updatedAt) - Date.parse(j.createdAt)) / 1000);
    }
    await untilEnded(
      stack,
      String((await adminApi(stack, 'POST', 'plans/bench/cancel-failover', {})).id),
    );
    return {
      name: `plan of ${n} machines: alert → every health probe OK`,
      value: seconds,
      unit: 's',
      baselineName: 'slowest machine alone (its own job)',
      baselineValue: slowest,
      ratio: seconds / slowest,
      note: `target ≤ 90 s for 10 (ASR RTO SLA 2 h); ${n} QEMU guests booting at once on this machine`,
    };
  });
}

export async function run({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  return [await alertToHealthy(quick ? 3 : 10), ...(await planOrchestration(quick ? 10 : 50))];
}
