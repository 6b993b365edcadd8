import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/*
 * A loop device over a FUSE export is a kernel resource shared by the whole machine: if the
 * FUSE daemon dies or hangs with the loop attached, every mkfs.ext4/losetup on the machine
 * blocks in the kernel (seen once: the whole test run hung). So such a test probes first and
 * skips rather than hangs, tears down in an order that cannot block (each step time-limited,
 * the FUSE connection aborted before its daemons are killed), and does so on signals and on
 * exit too, not only in afterAll.
 */

const FUSECTL = '/sys/fs/fuse/connections';

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => {
    try {
      accessSync(join(d, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function fusectlMounted(): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === FUSECTL && l.split(' ')[2] === 'fusectl');
}

/**
 * Why this machine cannot run a loop-over-FUSE test, or undefined when it can. Call it from the
 * test, never at import: it mounts fusectl when missing (a fresh CI machine may lack it), since
 * without it a hung export could not be aborted.
 */
export function fuseLoopUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (!existsSync('/dev/fuse')) return '/dev/fuse is missing';
  const tools = ['qemu-storage-daemon', 'losetup', 'mkfs.ext4', 'mount', 'umount', 'fsfreeze'];
  const missing = tools.filter((t) => !onPath(t));
  if (missing.length) return `not on PATH: ${missing.join(', ')}`;
  if (!existsSync(FUSECTL)) return `${FUSECTL} is missing (fuse module not loaded)`;
  if (!fusectlMounted()) {
    spawnSync('mount', ['-t', 'fusectl', 'none', FUSECTL], {
      stdio: 'ignore',
      timeout: 5_000,
      killSignal: 'SIGKILL',
    });
    if (!fusectlMounted()) return `fusectl is not mounted on ${FUSECTL} and could not be`;
  }
  const loop = spawnSync('losetup', ['-f'], {
    encoding: 'utf8',
    timeout: 5_000,
    killSignal: 'SIGKILL',
  });
  if (loop.error || loop.status !== 0) {
    return `losetup cannot find a free loop device: ${loop.error?.message ?? loop.stderr.trim()}`;
  }
  return undefined;
}

/**
 * The fusectl directory name of the FUSE filesystem mounted at `mountpoint`, read from
 * mountinfo (a stat would ask the daemon, and block if it hangs). Kernel dev_t: major << 20 | minor.
 */
export function fuseConnection(mountpoint: string): string | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] !== mountpoint) continue;
    const [major, minor] = f[2]!.split(':').map(Number) as [number, number];
    return String(((major << 20) | minor) >>> 0);
  }
  return undefined;
}

/** Steps longer than this are abandoned (killed if they can be) and teardown moves on. */
const STEP_MS = 5_000;

/**
 * What a loop-over-FUSE test has set up, and its teardown: umount -l → losetup -d → abort the
 * FUSE connection → SIGKILL the daemons (→ umount -l the dead export). The test clears a field
 * once it undid that part itself.
 * Teardown runs as a separate `sh` that polls each step against a deadline instead of waiting
 * for it, so a step stuck in the kernel cannot hold it up, and it also works detached from a
 * process that is exiting.
 */
export class FuseLoop {
  /** The filesystem mounted on the loop device. */
  mnt?: string;
  loop?: string;
  /** fusectl name of the export's connection (see fuseConnection). */
  fuseConn?: string;
  /** The export's own mountpoint: left behind (ENOTCONN) if its daemon is killed. */
  fuseMount?: string;
  readonly daemons: ChildProcess[] = [];
  private tearingDown = false;
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.teardownDetached();
    this.unhook();
    process.kill(process.pid, sig);
  };
  private readonly onExit = (): void => this.teardownDetached();

  constructor() {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, this.onSignal);
    process.once('exit', this.onExit);
  }

  /** A daemon the loop depends on: if it dies on its own, abort the connection at once (no hang). */
  daemon(p: ChildProcess): ChildProcess {
    this.daemons.push(p);
    p.once('exit', () => {
      if (!this.tearingDown && this.fuseConn) abortFuse(this.fuseConn);
    });
    return p;
  }

  private script(): string | undefined {
    const steps: string[][] = [];
    if (this.mnt) steps.push(['umount', '-l', this.mnt]);
    if (this.loop) steps.push(['losetup', '-d', this.loop]);
    if (this.fuseConn)
      steps.push(['sh', '-c', 'echo 1 > "$0"', join(FUSECTL, this.fuseConn, 'abort')]);
    const pids = this.daemons
      .filter((d) => d.exitCode === null && d.signalCode === null && d.pid)
      .map((d) => String(d.pid));
    if (pids.length) steps.push(['kill', '-9', ...pids]);
    if (this.fuseMount) steps.push(['umount', '-l', this.fuseMount]);
    if (!steps.length) return undefined;
    const ticks = Math.ceil(STEP_MS / 100);
    // step CMD...: runs CMD in the background, polls it until done or the deadline, never waits.
    const fn =
      'step() { "$@" >/dev/null 2>&1 & p=$!; i=0; ' +
      `while [ $i -lt ${ticks} ] && kill -0 $p 2>/dev/null; do sleep 0.1; i=$((i+1)); done; ` +
      'kill -9 $p 2>/dev/null; }';
    const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const body = steps.map((s) => `step ${s.map(quote).join(' ')}`).join('; ');
    return `${fn}; ${body}`;
  }

  /** Undoes what is left, in order; resolves when done (bounded: each step has a deadline). */
  async teardown(): Promise<void> {
    this.tearingDown = true;
    this.unhook();
    const s = this.script();
    this.clear();
    if (!s) return;
    await new Promise<void>((res) => {
      const p = spawn('sh', ['-c', s], { stdio: 'ignore' });
      p.once('exit', () => res());
      p.once('error', () => res());
    });
  }

  /** For signals and exit: the same script, detached, so it outlives this process. */
  private teardownDetached(): void {
    this.tearingDown = true;
    const s = this.script();
    this.clear();
    if (!s) return;
    try {
      spawn('sh', ['-c', s], { stdio: 'ignore', detached: true }).unref();
    } catch {
      /* exiting anyway */
    }
  }

  private clear(): void {
    this.mnt = this.loop = this.fuseConn = this.fuseMount = undefined;
    this.daemons.length = 0;
  }

  private unhook(): void {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
      process.removeListener(s, this.onSignal);
    process.removeListener('exit', this.onExit);
  }
}

function abortFuse(conn: string): void {
  try {
    // Fails every pending and future request of that connection: blocked writers get EIO.
    writeFileSync(join(FUSECTL, conn, 'abort'), '1');
  } catch {
    /* already gone */
  }
}
