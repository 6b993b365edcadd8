import { parseDuration } from './duration';
import type { AdminClient } from './client';
import { printJob } from './jobCommand';
import { details, table } from './table';

type Row = Record<string, unknown>;
type Print = (json: unknown, human: () => string) => void;
type Need = (v: string | undefined, what: string) => string;

/** The flags `haven plan …` and `haven drills` read. */
export interface PlanFlags {
  group?: string[];
  point?: string;
  planned?: boolean;
  wait?: boolean;
  description?: string;
  'max-parallel'?: string;
  drill?: string;
  'drill-point'?: string;
  pre?: boolean;
  post?: boolean;
  kind?: string;
  name?: string;
  url?: string;
  header?: string[];
  expect?: string;
  retries?: string;
  timeout?: string;
  seconds?: string;
  instructions?: string;
  'on-timeout'?: string;
  for?: string;
}

export const planOptions = {
  group: { type: 'string', multiple: true },
  'max-parallel': { type: 'string' },
  drill: { type: 'string' },
  'drill-point': { type: 'string' },
  pre: { type: 'boolean' },
  post: { type: 'boolean' },
  kind: { type: 'string' },
  name: { type: 'string' },
  url: { type: 'string' },
  header: { type: 'string', multiple: true },
  expect: { type: 'string' },
  retries: { type: 'string' },
  timeout: { type: 'string' },
  seconds: { type: 'string' },
  instructions: { type: 'string' },
  'on-timeout': { type: 'string' },
  for: { type: 'string' },
} as const;

export const PLAN_USAGE = `  plan create NAME --group 1:M1,M2 --group 2:M3 [--point P] [--max-parallel N]
                  [--drill CRON] [--drill-point P] [--description TEXT]
  plan list
  plan show|delete PLAN
  plan action add PLAN --group N --pre|--post --kind webhook|manual|wait|health [--name NAME]
                  [--for test,planned,unplanned] webhook: --url URL [--header K=V ...]
                  [--expect 200,202] [--retries N] [--timeout S]; manual: [--instructions TEXT]
                  [--timeout S] [--on-timeout fail|continue]; wait: --seconds S; health: [--timeout S]
  plan test-failover|cleanup|failover|change-point|commit|cancel PLAN [--point P] [--planned]
                                      groups in order, machines of a group in parallel (--wait)
  plan drill PLAN [--point P]         a drill now: test failover, health, RTO/RPO, cleanup, report
  drills PLAN                         drill reports, newest first`;

const OPS: Record<string, string> = {
  'test-failover': 'test-failover',
  cleanup: 'test-failover-cleanup',
  failover: 'failover',
  'change-point': 'change-recovery-point',
  commit: 'commit',
  cancel: 'cancel-failover',
};

/** `--group 1:M1,M2` → `{ id: 1, machines: [M1, M2] }`. */
function parseGroup(text: string): { id: number; machines: string[] } {
  const m = /^(\d+):(.+)$/.exec(text);
  if (!m) throw new Error(`Invalid --group '${text}' (use N:MACHINE,MACHINE).`);
  return {
    id: Number(m[1]),
    machines: m[2]!
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  };
}

/** The action an `action add` describes. */
function actionOf(v: PlanFlags, need: Need, n: number): Row {
  const kind = need(v.kind, '--kind webhook|manual|wait|health');
  const a: Row = { name: v.name ?? `${kind}-${n}`, kind };
  if (v.for) a.operations = v.for.split(',').map((s) => s.trim());
  const timeout = v.timeout ? parseDuration(v.timeout) : undefined;
  if (kind === 'webhook') {
    a.url = need(v.url, '--url');
    if (v.header?.length)
      a.headers = Object.fromEntries(
        v.header.map((h) => [h.split('=')[0], h.split('=').slice(1).join('=')]),
      );
    if (v.expect) a.expectedStatus = v.expect.split(',').map(Number);
    if (v.retries) a.retries = Number(v.retries);
    if (timeout) a.timeoutSeconds = timeout;
  } else if (kind === 'manual') {
    if (v.instructions) a.instructions = v.instructions;
    if (timeout) a.timeoutSeconds = timeout;
    if (v['on-timeout']) a.onTimeout = v['on-timeout'];
  } else if (kind === 'wait') a.seconds = parseDuration(need(v.seconds, '--seconds'));
  else if (timeout) a.timeoutSeconds = timeout;
  return a;
}

function planText(p: Row): string {
  const groups = p.groups as { id: number; machines: string[]; pre: Row[]; post: Row[] }[];
  const acts = (as: Row[]) => as.map((a) => `${String(a.name)}(${String(a.kind)})`).join(',');
  const run = (p.run ?? {}) as Row;
  return [
    details({
      name: p.name,
      pointChoice: p.pointChoice,
      maxParallel: p.maxParallel,
      drill: (p.drill as Row | undefined)?.schedule ?? '-',
      running: (run.active as Row | undefined)?.jobId ?? '-',
      nextDrillAt: run.nextDrillAt ?? '-',
    }),
    '',
    table(
      groups.map((g) => ({
        group: g.id,
        machines: g.machines,
        pre: acts(g.pre),
        post: acts(g.post),
      })),
      ['group', 'machines', 'pre', 'post'],
    ),
  ].join('\n');
}

/** `haven plan …` and `haven drills PLAN`. */
export async function planCommand(
  [cmd, sub, arg, arg2]: (string | undefined)[],
  v: PlanFlags,
  client: AdminClient,
  print: Print,
  need: Need,
): Promise<void> {
  const enc = encodeURIComponent;
  if (cmd === 'drills') {
    const ds = await client.all<Row>(`plans/${enc(need(sub, 'PLAN'))}/drills`);
    const rows = ds.map((d) => ({
      ...d,
      machines: (d.machines as Row[]).length,
      leftovers: (d.leftovers as string[]).length,
    }));
    return print(ds, () =>
      table(rows, [
        'id',
        'startedAt',
        'state',
        'point',
        'machines',
        'rtoSeconds',
        'rpoSeconds',
        'leftovers',
        'startedBy',
      ]),
    );
  }
  switch (sub) {
    case 'create': {
      const body: Row = { name: need(arg, 'plan NAME'), groups: (v.group ?? []).map(parseGroup) };
      if (!(body.groups as unknown[]).length) need(undefined, '--group N:MACHINE,...');
      if (v.point) body.pointChoice = v.point;
      if (v['max-parallel']) body.maxParallel = Number(v['max-parallel']);
      if (v.description) body.description = v.description;
      if (v.drill)
        body.drill = {
          schedule: v.drill,
          ...(v['drill-point'] ? { point: v['drill-point'] } : {}),
        };
      const p = (await client.request('POST', 'plans', body)).body as Row;
      return print(
        p,
        () => `Created plan ${String(p.name)} (${(p.groups as unknown[]).length} groups).`,
      );
    }
    case 'list': {
      const ps = await client.all<Row>('plans');
      const rows = ps.map((p) => ({
        ...p,
        groups: (p.groups as unknown[]).length,
        machines: (p.groups as { machines: string[] }[]).reduce((n, g) => n + g.machines.length, 0),
      }));
      return print(ps, () =>
        table(rows, ['name', 'groups', 'machines', 'pointChoice', 'description']),
      );
    }
    case 'show': {
      const p = (await client.request('GET', `plans/${enc(need(arg, 'PLAN'))}`)).body as Row;
      return print(p, () => planText(p));
    }
    case 'delete': {
      const p = (await client.request('DELETE', `plans/${enc(need(arg, 'PLAN'))}`)).body as Row;
      return print(p, () => `Deleted plan ${String(p.name)}.`);
    }
    case 'action': {
      if (arg !== 'add') throw new Error(`Unknown command 'plan action ${arg ?? ''}'.`);
      const plan = need(arg2, 'PLAN');
      if (v.pre === v.post) need(undefined, 'exactly one of --pre or --post');
      const cur = (await client.request('GET', `plans/${enc(plan)}`)).body as Row;
      const n = (cur.groups as { pre: unknown[]; post: unknown[] }[]).reduce(
        (k, g) => k + g.pre.length + g.post.length,
        1,
      );
      const body = {
        group: Number(need(v.group?.[0], '--group N')),
        phase: v.pre ? 'pre' : 'post',
        action: actionOf(v, need, n),
      };
      const p = (await client.request('POST', `plans/${enc(plan)}/actions`, body)).body as Row;
      return print(
        p,
        () =>
          `Added ${String(body.action.kind)} action ${String(body.action.name)} to group ${body.group} (${body.phase}).\n${planText(p)}`,
      );
    }
    case 'drill': {
      const j = (
        await client.request(
          'POST',
          `plans/${enc(need(arg, 'PLAN'))}/drill`,
          v.point ? { point: v.point } : {},
        )
      ).body as Row;
      return printJob(client, j, v.wait, print);
    }
    default: {
      const op = OPS[sub ?? ''];
      if (!op) throw new Error(`Unknown command 'plan ${sub ?? ''}'.`);
      const body: Row = {};
      if (v.point) body.point = v.point;
      if (v.planned) body.planned = true;
      if (sub === 'change-point') need(v.point, '--point');
      const j = (await client.request('POST', `plans/${enc(need(arg, 'PLAN'))}/${op}`, body))
        .body as Row;
      return printJob(client, j, v.wait, print);
    }
  }
}
