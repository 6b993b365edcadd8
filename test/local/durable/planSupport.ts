import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { addPoint, recoverableMachine } from '../../support/recoverableMachine';
import { recoveryEnv, type RecoveryEnv } from './recoverySupport';
import { api, finalJob, spawnSagaHost, waitUntil, type HostChild } from './sagaSupport';

export const plansApp = join(__dirname, 'fixtures', 'plansApp.ts');

export interface PlanEnv extends RecoveryEnv {
  machines: string[];
}

/** A saga environment with `n` protected machines, each with materialized points `points`. */
export async function planEnv(
  n: number,
  points = ['p1'],
  extra: Record<string, string> = {},
): Promise<PlanEnv> {
  const env = await recoveryEnv(points);
  Object.assign(env.settings, extra);
  const machines = [env.machineId];
  for (let i = 1; i < n; i++) {
    const m = await recoverableMachine(env.root, { sda: 1024 * 1024 });
    for (const p of points) await addPoint(env.root, m, p);
    machines.push(m);
  }
  return { ...env, machines };
}

export const spawnPlansHost = (env: PlanEnv): Promise<HostChild> => spawnSagaHost(env, plansApp);

/** POSTs a plan operation; returns the plan job id. */
export async function startPlanOp(
  h: HostChild,
  plan: string,
  op: string,
  body: unknown = {},
): Promise<string> {
  const r = await api(h, 'POST', `/api/plans/${plan}/${op}`, body);
  if (r.status !== 202) throw new Error(`${op}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.id as string;
}

/** Waits until the job is in one of `states`. */
export const jobIn = (h: HostChild, jobId: string, states: string[], timeoutMs = 60_000) =>
  waitUntil(
    `job ${jobId} in ${states.join('|')}`,
    async () => {
      const j = (await api(h, 'GET', `/api/jobs/${jobId}`)).json;
      return states.includes(j?.state) ? j : undefined;
    },
    timeoutMs,
  );

export { finalJob };

/** A webhook receiver: records each request (headers and JSON body); answers `status()`. */
export async function webhookServer(status: () => number = () => 200) {
  const got: { url: string; headers: IncomingMessage['headers']; body: Record<string, unknown> }[] =
    [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({
        url: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>,
      });
      res.statusCode = status();
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}
