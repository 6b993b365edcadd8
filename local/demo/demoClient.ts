import { join } from 'node:path';
import { makeBootableServerImage } from '../images/bootableServer';
import type { LocalStack } from '../stack/startLocalStack';

/** What the demo's main gives its parts. */
export interface DemoContext {
  work: string;
  stack: LocalStack;
  havenBin: string;
  agentBin: string;
  /** Runs a bin (node) with args; its stdout. */
  run(bin: string, args: string[]): Promise<string>;
  step(text: string): void;
  ok(text: string): void;
}

export type Row = Record<string, unknown>;
const MiB = 1024 * 1024;

/** The demo's ways to talk to Haven: the `haven` CLI (JSON), the admin API, and waiting. */
export function demoClient(d: DemoContext) {
  const { stack } = d;
  const admin = ['--api', stack.apiUrl, '--key', stack.env.HAVEN_ADMIN_KEY!, '--json'];
  const haven = async (...args: string[]) =>
    JSON.parse(await d.run(d.havenBin, [...args, ...admin])) as Row;
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${stack.apiUrl}/${path}`, {
      method,
      headers: {
        'x-functions-key': stack.env.HAVEN_ADMIN_KEY!,
        'content-type': 'application/json',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${await r.text()}`);
    return (await r.json()) as Row;
  };
  const until = async (what: string, probe: () => Promise<Row | undefined>, ms = 300_000) => {
    for (
      const end = Date.now() + ms;
      Date.now() < end;
      await new Promise((r) => setTimeout(r, 500))
    ) {
      const v = await probe();
      if (v) return v;
    }
    throw new Error(`${what}: not within ${ms / 1000} s`);
  };

  /**
   * A server with a small bootable disk (its files under /srv/data), enrolled into `siteId` by
   * its own agent, protected and replicated once; its agent, to cut more points.
   */
  const bootableServer = async (siteId: string, name: string, files: Record<string, string>) => {
    const image = join(d.work, `${name}.img`);
    makeBootableServerImage(image, { sizeBytes: 16 * MiB, hostname: name, files });
    const token = await haven('token', 'create', '--site', siteId, '--ttl', '1h');
    const agentDir = join(d.work, `agent-${name}`);
    const agent = (...args: string[]) => d.run(d.agentBin, [...args, '--state-dir', agentDir]);
    const { machineId } = JSON.parse(
      await agent(
        'enroll',
        '--api',
        stack.apiUrl,
        '--token',
        String(token.token),
        '--name',
        name,
        '--json',
      ),
    ) as { machineId: string };
    await agent('disk', 'add', image, '--json');
    await haven('protect', machineId);
    const runOnce = async () =>
      (JSON.parse(await agent('run', '--once', '--json')) as { recoveryPoint: { id: string } })
        .recoveryPoint.id;
    const pointId = await runOnce();
    return { name, machineId, image, pointId, runOnce };
  };

  /** What a recovered server serves at `path` (its public IP, port 80), trimmed. */
  const served = async (ip: string, path: string) =>
    (
      await (await fetch(`http://${ip}${path}`, { signal: AbortSignal.timeout(5000) })).text()
    ).trim();

  return { haven, api, until, bootableServer, served };
}
