import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { requireSecureUrl } from '../core/requireSecureUrl';
import { AdminClient, ApiError, type ApiReply } from './client';
import { formatDuration, parseDuration } from './duration';
import { readEnvFile } from './envFile';
import { details, table } from './table';
import { groupCommand } from './groupCommand';
import { accessCommand } from './machineCommand';
import { RECOVERY_USAGE, recoveryCommand, recoveryOptions } from './failoverCommand';
import { PLAN_USAGE, planCommand, planOptions } from './planCommand';
import { ALERT_USAGE, alertCommand, alertOptions } from './alertCommand';
import { JOB_USAGE, jobCommand, jobOptions } from './jobCommand';

export interface CliIo {
  cwd: string;
  env: Record<string, string | undefined>;
  out(text: string): void;
  err(text: string): void;
  fetch?: typeof fetch;
}

const USAGE = `Usage: haven <command> [options]

  site create NAME [--description TEXT]
  sites
  token create --site ID [--ttl 1h]
  token revoke TOKEN                            revoke an unused enrollment token
  policy set NAME [--crash-interval 5s] [--app-interval 1h] [--retention 24h]
                  [--thinning hourly:24h,daily:7d] [--rpo-alert 60s] [--description TEXT]
  policies
  machines [--site ID]
  machine ID
  machine revoke|delete|rotate-key MACHINE      end or renew a machine's access (docs/security.md)
  machine replace MACHINE [--ttl 1h]           one-time token for a new agent to take over MACHINE
  protect MACHINE [--disk ID ...] [--policy NAME]
  unprotect MACHINE
  resync MACHINE DISK [--reason TEXT]  replicate the disk again as a new generation (older points stay)
  health
  groups
  group create NAME [--member MACHINE ...] [--description TEXT]
  group show|delete GROUP
  group add|remove GROUP MACHINE
  group bookmark GROUP [--app] [--lead S]
                                      a shared cut: every member's agent inserts it S seconds
                                      from now (default 10) and holds writes 100 ms after it
  group points GROUP                  group recovery points (complete / pending: missing members)
${RECOVERY_USAGE}
${PLAN_USAGE}
${ALERT_USAGE}
${JOB_USAGE}

Options: --api URL  --key KEY  (default: HAVEN_API_URL / HAVEN_ADMIN_KEY from
         .haven/local.env in the current directory, or --env FILE)
         --json     print the API's JSON instead of a table`;

const options = {
  api: { type: 'string' },
  key: { type: 'string' },
  env: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  site: { type: 'string' },
  ttl: { type: 'string' },
  description: { type: 'string' },
  'crash-interval': { type: 'string' },
  'app-interval': { type: 'string' },
  retention: { type: 'string' },
  thinning: { type: 'string' },
  'rpo-alert': { type: 'string' },
  disk: { type: 'string', multiple: true },
  policy: { type: 'string' },
  reason: { type: 'string' },
  member: { type: 'string', multiple: true },
  app: { type: 'boolean' },
  lead: { type: 'string' },
  ...recoveryOptions,
  ...planOptions,
  ...alertOptions,
  ...jobOptions,
} as const;

type Values = ReturnType<
  typeof parseArgs<{ options: typeof options; allowPositionals: true }>
>['values'];

class UsageError extends Error {}

const need = (v: string | undefined, what: string): string => {
  if (!v) throw new UsageError(`Missing ${what}.`);
  return v;
};

function parseThinning(text: string): { keep: string; forHours: number }[] {
  return text.split(',').map((rule) => {
    const [keep, dur] = rule.split(':');
    if (!keep || !dur || !['hourly', 'daily', 'weekly'].includes(keep)) {
      throw new UsageError(`Invalid thinning rule '${rule}' (use e.g. hourly:24h,daily:7d).`);
    }
    return { keep, forHours: Math.ceil(parseDuration(dur) / 3600) };
  });
}

type Row = Record<string, unknown>;

/** Runs one CLI invocation; returns the exit code (0 ok, 1 API error, 2 usage error). */
export async function run(argv: string[], io: CliIo): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options,
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    io.err(`haven: ${(e as Error).message}`);
    return 2;
  }
  if (values.help || positionals.length === 0) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  // The environment first, then an env file: a `.haven/local.env` in whatever directory the CLI
  // runs in (an untrusted checkout) must not redirect a key from the environment to its own URL.
  // URL and key come from the same source, never one from each.
  const fromEnv = !values.env && !!io.env.HAVEN_API_URL;
  const source = fromEnv ? io.env : readEnvFile(resolve(io.cwd, values.env ?? '.haven/local.env'));
  const api = values.api ?? source.HAVEN_API_URL;
  const key = values.key ?? source.HAVEN_ADMIN_KEY;
  const print = (json: unknown, human: () => string) =>
    io.out(values.json ? JSON.stringify(json, null, 2) : human());
  try {
    if (!api) throw new UsageError('No API URL: pass --api or run where .haven/local.env exists.');
    // The admin key goes with every request: never in clear text across a network.
    try {
      requireSecureUrl(api, 'The API URL');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const client = new AdminClient(api, key, io.fetch);
    await dispatch(positionals, values, client, print);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`haven: ${e.message} (see haven --help)`);
      return 2;
    }
    io.err(`haven: ${e instanceof ApiError || e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

async function dispatch(
  pos: string[],
  v: Values,
  client: AdminClient,
  print: (json: unknown, human: () => string) => void,
): Promise<void> {
  const [cmd, sub, arg] = pos;
  const enc = encodeURIComponent;
  const tokenBody = v.ttl ? { ttlSeconds: parseDuration(v.ttl) } : {};
  if (await accessCommand(cmd!, sub, arg, client, print, need, tokenBody)) return;
  switch (`${cmd}${sub === 'create' || sub === 'set' ? ` ${sub}` : ''}`) {
    case 'site create': {
      const body = {
        name: need(arg, 'site NAME'),
        ...(v.description ? { description: v.description } : {}),
      };
      const site = (await client.request('POST', 'sites', body)).body as Row;
      return print(site, () => `Created site ${site.id}.`);
    }
    case 'sites': {
      const sites = await client.all<Row>('sites');
      return print(sites, () => table(sites, ['id', 'description', 'createdAt']));
    }
    case 'token create': {
      const site = need(v.site, '--site ID');
      const t = (await client.request('POST', `sites/${enc(site)}/enrollment-tokens`, tokenBody))
        .body as Row;
      return print(
        t,
        () =>
          `${t.token}\n(one-time enrollment token for site ${t.siteId}, expires ${t.expiresAt}; shown once)`,
      );
    }
    case 'policy set':
      return policySet(need(arg, 'policy NAME'), v, client, print);
    case 'policies': {
      const ps = await client.all<Row>('policies');
      const rows = ps.map((p) => ({
        ...p,
        crash: formatDuration(p.crashIntervalSeconds as number),
        app: p.appIntervalSeconds ? formatDuration(p.appIntervalSeconds as number) : 'off',
        retention: formatDuration((p.retentionHours as number) * 3600),
        thinning: (p.thinning as { keep: string; forHours: number }[]).map(
          (t) => `${t.keep}:${formatDuration(t.forHours * 3600)}`,
        ),
        rpoAlert: formatDuration(p.rpoAlertSeconds as number),
      }));
      return print(ps, () =>
        table(rows, ['name', 'crash', 'app', 'retention', 'thinning', 'rpoAlert']),
      );
    }
    case 'machines': {
      const ms = await client.all<Row>(v.site ? `machines?siteId=${enc(v.site)}` : 'machines');
      return print(ms, () =>
        table(ms, ['id', 'siteId', 'hostname', 'os', 'agentVersion', 'lastHeartbeatAt']),
      );
    }
    case 'machine': {
      const m = (await client.request('GET', `machines/${enc(need(sub, 'machine ID'))}`))
        .body as Row;
      const { disks, ...rest } = m;
      return print(
        m,
        () =>
          `${details(rest)}\n\n${table(disks as Row[], ['id', 'sizeBytes', 'logicalSectorSize', 'generation', 'addedAt'])}`,
      );
    }
    case 'protect': {
      const body = {
        ...(v.disk?.length ? { disks: v.disk } : {}),
        ...(v.policy ? { policy: v.policy } : {}),
      };
      const r = await client.request('POST', `machines/${enc(need(sub, 'MACHINE'))}/protect`, body);
      const verb = r.status === 202 ? 'Protection enabling' : 'Already protected';
      return print(r.body, () => protectionLine(verb, r));
    }
    case 'unprotect': {
      const path = `machines/${enc(need(sub, 'MACHINE'))}/disable-protection`;
      const r = await client.request('POST', path, {});
      const verb = r.status === 202 ? 'Protection disabling' : 'Protection disabled';
      return print(r.body, () => protectionLine(verb, r));
    }
    case 'resync': {
      const path = `machines/${enc(need(sub, 'MACHINE'))}/disks/${enc(need(arg, 'DISK'))}/resync`;
      const r = await client.request('POST', path, v.reason ? { reason: v.reason } : {});
      const { disk, job, item } = r.body as { disk: Row; job: Row | null; item: Row | null };
      return print(
        r.body,
        () =>
          `${r.status === 202 ? 'Resync started' : 'Already resyncing'}: disk ${disk.id} generation ${disk.generation}${item ? `, item ${item.state}` : ''}${job ? `; job ${job.id}` : ''}`,
      );
    }
    case 'job':
      return jobCommand(pos.slice(1), v, client, print, need);
    case 'plan':
    case 'plan create':
    case 'drills':
      return planCommand(pos, v, client, print, need);
    case 'alert-trigger':
    case 'alert-trigger create':
    case 'alerts':
      return alertCommand(pos, v, client, print, need);
    case 'health': {
      const h = await client.request('GET', 'health').catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 503 && e.problem?.dependencies)
          return { status: 503, body: e.problem };
        throw e;
      });
      const report = h.body as { status: string; dependencies: Row[] };
      return print(
        report,
        () =>
          `${report.status}\n${table(report.dependencies, ['name', 'status', 'latencyMs', 'detail'])}`,
      );
    }
    case 'groups':
    case 'group':
    case 'group create':
      return groupCommand(cmd === 'groups' ? [] : pos.slice(1), v, client, print, need);
    case 'points':
    case 'recovery':
    case 'recovery set':
    case 'failover':
      return recoveryCommand(pos, v, client, print, need);
    case 'reprotect':
    case 'reenable':
      return recoveryCommand(['failover', cmd, pos[1]], v, client, print, need);
    case 'failback':
      // `haven failback MACHINE`, `haven failback commit|cancel MACHINE`.
      return recoveryCommand(
        sub === 'commit' || sub === 'cancel'
          ? ['failover', `failback-${sub}`, arg]
          : ['failover', cmd, sub],
        v,
        client,
        print,
        need,
      );
    default:
      throw new UsageError(`Unknown command '${pos.join(' ')}'.`);
  }
}

/** One line for a protect/unprotect reply (`{ item, job }`). */
function protectionLine(verb: string, r: ApiReply): string {
  const { item, job } = r.body as { item: Row; job: Row };
  return `${verb}: ${item.machineId} disks ${(item.disks as string[]).join(',')} policy ${item.policy}, state ${item.state}; job ${job.id}`;
}

/** Creates the policy, or merges the given flags into the existing one (conditional on its ETag). */
async function policySet(
  name: string,
  v: Values,
  client: AdminClient,
  print: (json: unknown, human: () => string) => void,
): Promise<void> {
  const fields: Row = {};
  if (v['crash-interval']) fields.crashIntervalSeconds = parseDuration(v['crash-interval']);
  if (v['app-interval']) fields.appIntervalSeconds = parseDuration(v['app-interval']);
  if (v.retention) fields.retentionHours = Math.ceil(parseDuration(v.retention) / 3600);
  if (v.thinning) fields.thinning = parseThinning(v.thinning);
  if (v['rpo-alert']) fields.rpoAlertSeconds = parseDuration(v['rpo-alert']);
  if (v.description) fields.description = v.description;
  let existing: ApiReply | undefined;
  try {
    existing = await client.request('GET', `policies/${encodeURIComponent(name)}`);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  let saved;
  if (!existing) {
    saved = (await client.request('POST', 'policies', { name, ...fields })).body as Row;
  } else {
    const { name: _n, id: _i, createdAt: _c, updatedAt: _u, ...current } = existing.body as Row;
    saved = (
      await client.request(
        'PUT',
        `policies/${encodeURIComponent(name)}`,
        { ...current, ...fields },
        existing.etag ? { 'if-match': existing.etag } : {},
      )
    ).body as Row;
  }
  print(saved, () => `${existing ? 'Updated' : 'Created'} policy ${saved.name}.`);
}

/** Entry for bin/haven.js. */
export function main(): void {
  run(process.argv.slice(2), {
    cwd: process.cwd(),
    env: process.env,
    out: (t) => process.stdout.write(`${t}\n`),
    err: (t) => process.stderr.write(`${t}\n`),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`haven: ${(e as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) main();
