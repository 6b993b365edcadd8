import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { requireSecureUrl } from '../core/requireSecureUrl';
import { AdminClient, ApiError } from './client';
import { parseDuration } from './duration';
import { readEnvFile } from './envFile';
import { details, table } from './table';
import { groupCommand } from './groupCommand';
import { accessCommand } from './machineCommand';
import { RECOVERY_USAGE, recoveryCommand, recoveryOptions } from './failoverCommand';
import { PLAN_USAGE, planCommand, planOptions } from './planCommand';
import { ALERT_USAGE, alertCommand, alertOptions } from './alertCommand';
import { JOB_USAGE, jobCommand, jobOptions } from './jobCommand';
import { listPolicies, POLICY_USAGE, policyOptions, policySet } from './policyCommand';
import { PROTECTION_USAGE, protectionCommand, protectionOptions } from './protectionCommand';
import { need, UsageError } from './usageError';

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
${POLICY_USAGE}
  machines [--site ID]
  machine ID
  machine revoke|delete|rotate-key MACHINE      end or renew a machine's access (docs/security.md)
  machine replace MACHINE [--ttl 1h]           one-time token for a new agent to take over MACHINE
${PROTECTION_USAGE}
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
  member: { type: 'string', multiple: true },
  app: { type: 'boolean' },
  lead: { type: 'string' },
  ...policyOptions,
  ...protectionOptions,
  ...recoveryOptions,
  ...planOptions,
  ...alertOptions,
  ...jobOptions,
} as const;

type Values = ReturnType<
  typeof parseArgs<{ options: typeof options; allowPositionals: true }>
>['values'];

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
    case 'policies':
      return listPolicies(client, print);
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
    case 'protect':
    case 'unprotect':
    case 'resync':
      return protectionCommand(pos, v, client, print, need);
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
