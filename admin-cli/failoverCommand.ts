import type { AdminClient } from './client';
import { details, table } from './table';

type Row = Record<string, unknown>;
type Print = (json: unknown, human: () => string) => void;
type Need = (v: string | undefined, what: string) => string;

/** The flags the recovery commands read. */
export interface RecoveryFlags {
  point?: string;
  planned?: boolean;
  wait?: boolean;
  size?: string;
  subnet?: string;
  'test-network'?: string;
  'public-ip'?: boolean;
  'no-public-ip'?: boolean;
  probe?: string;
  'resource-group'?: string;
  location?: string;
  'os-disk'?: string;
  'private-ip'?: string;
  nsg?: string;
  tag?: string[];
  'test-ttl'?: string;
}

export const recoveryOptions = {
  point: { type: 'string' },
  planned: { type: 'boolean' },
  wait: { type: 'boolean' },
  size: { type: 'string' },
  subnet: { type: 'string' },
  'test-network': { type: 'string' },
  'public-ip': { type: 'boolean' },
  'no-public-ip': { type: 'boolean' },
  probe: { type: 'string' },
  'resource-group': { type: 'string' },
  location: { type: 'string' },
  'os-disk': { type: 'string' },
  'private-ip': { type: 'string' },
  nsg: { type: 'string' },
  tag: { type: 'string', multiple: true },
  'test-ttl': { type: 'string' },
} as const;

export const RECOVERY_USAGE = `  points MACHINE                      recovery points, newest first (id, time, consistency)
  recovery show MACHINE               recovery settings (defaults filled in)
  recovery set MACHINE [--size S] [--subnet ID] [--test-network NAME] [--public-ip|--no-public-ip]
                  [--probe PORT[/PATH]] [--resource-group RG] [--location L] [--os-disk DISK]
                  [--private-ip keep|dynamic|IP] [--nsg ID] [--tag K=V ...] [--test-ttl HOURS]
  failover test MACHINE [--point P]   test failover into the isolated test network
  failover cleanup MACHINE            delete what the test failover made
  failover start MACHINE [--point P] [--planned]
                                      P: latest (default), latest-processed,
                                      latest-app-consistent, latest-group, or a point id
  failover change-point MACHINE --point P
  failover commit MACHINE
  failover cancel MACHINE             back to protected (replication continues)
  failover status MACHINE
  reprotect MACHINE                   after commit: ship what the Azure VM wrote back to the site
  failback MACHINE                    power the Azure VM off, ship the rest, wait for the site agent
  failback cancel MACHINE             before the site took over: the Azure VM runs again
  failback commit MACHINE             remove the Azure VM, disks and snapshots (the seeds stay)
  reenable MACHINE                    after failback commit: protect the site server again,
                                      sending only what it wrote since failback
                                      failover, reprotect, failback and reenable take --wait`;

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** Follows a job until it ends (500 ms polls); a failed job is an error (exit 1). */
async function waitJob(client: AdminClient, id: string): Promise<Row> {
  for (;;) {
    const j = (await client.request('GET', `jobs/${encodeURIComponent(id)}`)).body as Row;
    if (TERMINAL.has(String(j.state))) return j;
    await new Promise((r) => setTimeout(r, 500));
  }
}

function jobLine(j: Row): string {
  const steps = (j.steps as { name: string; state: string }[] | undefined) ?? [];
  const err = j.error as { message?: string } | undefined;
  return [
    `job ${String(j.id)} ${String(j.type)}: ${String(j.state)}`,
    ...steps.map((s) => `  ${s.name.padEnd(18)} ${s.state}`),
    ...(err?.message ? [`  error: ${err.message}`] : []),
  ].join('\n');
}

/** Body of `recovery set` from its flags. */
function settingsBody(v: RecoveryFlags): Row {
  const b: Row = {};
  if (v.size) b.vmSize = v.size;
  if (v.subnet) b.subnetId = v.subnet;
  if (v['test-network']) b.testNetwork = { name: v['test-network'] };
  if (v['public-ip']) b.publicIp = true;
  if (v['no-public-ip']) b.publicIp = false;
  if (v['resource-group']) b.resourceGroup = v['resource-group'];
  if (v.location) b.location = v.location;
  if (v['os-disk']) b.osDisk = v['os-disk'];
  if (v['private-ip']) b.privateIp = v['private-ip'];
  if (v.nsg) b.nsgId = v.nsg;
  if (v['test-ttl']) b.testFailoverTtlHours = Number(v['test-ttl']);
  if (v.tag?.length)
    b.tags = Object.fromEntries(
      v.tag.map((t) => [t.split('=')[0], t.split('=').slice(1).join('=')]),
    );
  if (v.probe) {
    const [port, ...path] = v.probe.split('/');
    b.probe = { port: Number(port), ...(path.length ? { path: `/${path.join('/')}` } : {}) };
  }
  return b;
}

const OPS: Record<string, string> = {
  test: 'test-failover',
  cleanup: 'test-failover-cleanup',
  start: 'failover',
  'change-point': 'change-recovery-point',
  commit: 'commit',
  cancel: 'cancel-failover',
  // `haven reprotect|failback MACHINE`: the way back after a committed failover.
  reprotect: 'reprotect',
  failback: 'failback',
  'failback-commit': 'commit-failback',
  'failback-cancel': 'cancel-failback',
  reenable: 'reenable',
};

/** `haven failover …`, `haven recovery show|set`, `haven points`. */
export async function recoveryCommand(
  [cmd, sub, machine]: (string | undefined)[],
  v: RecoveryFlags,
  client: AdminClient,
  print: Print,
  need: Need,
): Promise<void> {
  const enc = encodeURIComponent;
  if (cmd === 'points') {
    const ps = await client.all<Row>(`machines/${enc(need(sub, 'MACHINE'))}/recovery-points`);
    const rows = ps.map((p) => ({
      id: p.id,
      time: p.time,
      consistency: p.consistency,
      materialized: p.materialized ?? true,
      groupId: p.groupId,
      barrier: p.barrier,
    }));
    return print(rows, () =>
      table(rows, ['id', 'time', 'consistency', 'materialized', 'groupId', 'barrier']),
    );
  }
  const base = `machines/${enc(need(machine, 'MACHINE'))}`;
  if (cmd === 'recovery') {
    if (sub === 'show') {
      const s = (await client.request('GET', `${base}/recovery-settings`)).body as Row;
      return print(s, () => details(s.settings as Row));
    }
    if (sub === 'set') {
      const cur = await client.request('GET', `${base}/recovery-settings`);
      const r = await client.request(
        'PUT',
        `${base}/recovery-settings`,
        settingsBody(v),
        cur.etag ? { 'if-match': cur.etag } : {},
      );
      const s = r.body as Row;
      return print(s, () => details(s.settings as Row));
    }
    throw new Error(`Unknown command 'recovery ${sub ?? ''}'.`);
  }
  if (sub === 'status') {
    const s = (await client.request('GET', `${base}/failover`)).body as Row;
    const vm = s.vm as Row | null;
    return print(s, () =>
      details({
        state: s.state,
        pointId: s.pointId ?? '-',
        test: s.test,
        vm: vm?.id ?? '-',
        powerState: vm?.powerState ?? '-',
        privateIp: vm?.privateIp ?? '-',
        publicIp: vm?.publicIp ?? '-',
      }),
    );
  }
  const op = OPS[sub ?? ''];
  if (!op) throw new Error(`Unknown command 'failover ${sub ?? ''}'.`);
  const body: Row = {};
  if (v.point) body.point = v.point;
  if (v.planned) body.planned = true;
  if (sub === 'change-point') need(v.point, '--point');
  const r = await client.request('POST', `${base}/${op}`, body);
  let job = r.body as Row;
  if (v.wait) job = await waitJob(client, String(job.id));
  print(job, () => jobLine(job));
  // A cancelled failback's job ends `cancelled`: that is the cancel succeeding.
  const wanted = sub === 'failback-cancel' ? 'cancelled' : 'succeeded';
  if (v.wait && job.state !== wanted)
    throw new Error(
      `job ${String(job.id)} ${String(job.state)}: ${String((job.error as Row | undefined)?.message ?? '')}`,
    );
}
