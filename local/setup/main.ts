import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isStaticElf } from '../vm/staticElf';
import { platformStatus, preparePlatform } from '../vm/platform';
import { findTool } from './requireTool';
import { requirements, type Purpose, type Requirement } from './requirements';

/**
 * `npm run setup` (and the first step of `npm run demo`, `npm test`, `npm start`, `npm run bench`):
 * makes a fresh Debian 12 + Node 20 machine ready, idempotently. It checks every external
 * program up front; as root it installs what is missing with one apt-get line and says why; not
 * as root it prints that line and stops before anything starts. Then it prepares the VM platform
 * (kernel + initramfs). Silent when everything is there; --verbose lists everything, --check
 * lists it and changes nothing (exit 1 when something is missing).
 *
 *   node dist/local/setup/main.js [--for stack,demo,tests,bench] [--check] [--verbose]
 */
interface Args {
  purposes: Purpose[];
  check: boolean;
  verbose: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    purposes: ['stack', 'demo', 'tests', 'bench'],
    check: false,
    verbose: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--check') args.check = true;
    else if (a === '--verbose') args.verbose = true;
    else if (a === '--for') {
      const list = (argv[++i] ?? '').split(',').filter(Boolean);
      const bad = list.filter((p) => !['stack', 'demo', 'tests', 'bench'].includes(p));
      if (list.length === 0 || bad.length)
        throw new Error(`--for takes stack,demo,tests,bench (got '${argv[i] ?? ''}')`);
      args.purposes = list as Purpose[];
    } else
      throw new Error(
        `Unknown option '${a}'. Usage: setup [--for stack,demo,tests,bench] [--check] [--verbose]`,
      );
  }
  return args;
}

/** A requirement is met when the tool is on PATH (and static when it must be), or the file exists. */
function missing(r: Requirement): boolean {
  if (r.file) return !existsSync(r.tool);
  const path = findTool(r.tool);
  if (!path) return true;
  return r.static === true && !isStaticElf(path);
}

const isRoot = () => process.env.HAVEN_SETUP_NOT_ROOT !== '1' && process.getuid?.() === 0;

function aptInstall(packages: string[], log: (l: string) => void): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // A fresh machine's package lists may be empty: update only when a package has no candidate.
  const noCandidate = packages.some(
    (p) =>
      !/Candidate: (?!\(none\))/.test(
        spawnSync('apt-cache', ['policy', p], { encoding: 'utf8' }).stdout ?? '',
      ),
  );
  if (noCandidate) {
    log('apt-get update (package lists are missing or stale)');
    execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  }
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
}

export async function setup(
  argv: string[],
  log: (l: string) => void = (l) => console.log(`setup: ${l}`),
): Promise<number> {
  const args = parseArgs(argv);
  const wanted = requirements.filter((r) => r.for.some((p) => args.purposes.includes(p)));
  const absent = wanted.filter(missing);
  if (args.verbose || args.check) {
    for (const r of wanted)
      log(
        `${absent.includes(r) ? 'MISSING' : 'ok     '} ${r.tool.padEnd(20)} (${r.debianPackage}: ${r.why})`,
      );
  }
  const packages = [...new Set(absent.map((r) => r.debianPackage))].sort();
  if (packages.length) {
    const line = `apt-get install -y --no-install-recommends ${packages.join(' ')}`;
    if (args.check || !isRoot()) {
      log(`missing: ${absent.map((r) => `${r.tool} (${r.why})`).join(', ')}`);
      log(`run as root: ${line}`);
      return 1;
    }
    for (const p of packages) {
      log(
        `installing ${p}: ${absent
          .filter((r) => r.debianPackage === p)
          .map((r) => r.why)
          .join('; ')}`,
      );
    }
    aptInstall(packages, log);
    const still = wanted.filter(missing);
    if (still.length) {
      log(
        `still missing after apt-get: ${still.map((r) => `${r.tool} (${r.debianPackage})`).join(', ')}`,
      );
      return 1;
    }
  }
  // Every purpose may run VMs (the stack's recovered servers, the demo, tests, the RTO bench).
  if (args.check) {
    const status = platformStatus();
    log(
      status.ready && status.platform
        ? `ok      VM platform: kernel ${status.platform.kernelVersion}`
        : `MISSING VM platform: ${status.missing.join('; ')} (npm run setup prepares it)`,
    );
    return status.ready ? 0 : 1;
  }
  const p = await preparePlatform({ log: (l) => log(l) });
  if (args.verbose) log(`ok      VM platform: kernel ${p.kernelVersion}`);
  return 0;
}

if (require.main === module) {
  setup(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`setup failed: ${(e as Error)?.message ?? e}`);
      process.exit(1);
    },
  );
}
