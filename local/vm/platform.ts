import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { withDirLock } from './dirLock';
import { buildPlatformInitramfs, INITRAMFS_KEY } from './platformInitramfs';
import { isStaticElf } from './staticElf';
import { findTool, requireTool } from '../setup/requireTool';

/**
 * The local "Azure platform" for VMs: a Linux kernel and an initramfs that boot a recovered
 * disk. The kernel is Debian's cloud kernel (virtio drivers as modules, ext4 built in),
 * fetched with `apt-get download` and unpacked with `dpkg -x` into a cache: nothing is
 * installed into /boot. The initramfs is built here from the static busybox and the virtio
 * modules of that same kernel.
 */
export interface Platform {
  kernel: string;
  initrd: string;
  kernelVersion: string;
}

export interface PlatformOptions {
  /** Default: $HAVEN_PLATFORM_DIR, else ~/.cache/haven/platform. */
  cacheDir?: string;
  log?: (line: string) => void;
}

export interface PlatformStatus {
  ready: boolean;
  platform?: Platform;
  /** What is missing, for people. */
  missing: string[];
  /** The one command that fixes it. */
  fix?: string;
}

const META_PACKAGE = 'linux-image-cloud-amd64';
const SETUP_HINT = 'npm run setup (as root)';

export function platformDir(opts: PlatformOptions = {}): string {
  return (
    opts.cacheDir ??
    process.env.HAVEN_PLATFORM_DIR ??
    join(homedir(), '.cache', 'haven', 'platform')
  );
}

/** Whether VMs can run here, without side effects. */
export function platformStatus(opts: PlatformOptions = {}): PlatformStatus {
  const missing: string[] = [];
  if (!findTool('qemu-system-x86_64'))
    missing.push('qemu-system-x86_64 (Debian package qemu-system-x86)');
  const dir = platformDir(opts);
  const platform = readCurrent(dir);
  if (!platform) {
    missing.push(
      readRecord(dir)
        ? `an up-to-date VM platform in ${dir} (its initramfs was built by an older Haven)`
        : `the VM platform kernel and initramfs in ${dir}`,
    );
  }
  return missing.length === 0
    ? { ready: true, platform, missing }
    : { ready: false, ...(platform ? { platform } : {}), missing, fix: SETUP_HINT };
}

/** What `current.json` records: the platform, and which initramfs recipe built it. */
interface CurrentRecord extends Platform {
  initrdKey?: string;
}

function readRecord(dir: string): CurrentRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'current.json'), 'utf8')) as CurrentRecord;
  } catch {
    return undefined;
  }
}

function readCurrent(dir: string): Platform | undefined {
  const r = readRecord(dir);
  if (!r || r.initrdKey !== INITRAMFS_KEY) return undefined;
  if (!existsSync(r.kernel) || !existsSync(r.initrd)) return undefined;
  return { kernel: r.kernel, initrd: r.initrd, kernelVersion: r.kernelVersion };
}

/** The kernel ABI version the meta package points at, e.g. 6.1.0-57-cloud-amd64. */
function resolveKernelPackage(log: (l: string) => void): string {
  const depends = () => {
    try {
      return execFileSync('apt-cache', ['depends', META_PACKAGE], {
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch {
      return '';
    }
  };
  let out = depends();
  if (!/Depends: linux-image-/.test(out) && process.getuid?.() === 0) {
    log('apt-get update (package lists are empty)');
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'pipe' });
    out = depends();
  }
  const m = /Depends: (linux-image-[0-9][^\s]*-cloud-amd64)/.exec(out);
  if (!m) {
    throw new Error(
      `Cannot resolve the kernel package behind ${META_PACKAGE} (apt-cache depends found none). Run apt-get update as root, then ${SETUP_HINT}.`,
    );
  }
  return m[1]!;
}

function staticBusybox(): string {
  const path =
    ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p)) ??
    requireTool('busybox', 'busybox-static', 'to build the VM initramfs');
  if (!isStaticElf(path)) {
    throw new Error(
      `${path} is dynamically linked; the VM platform needs the static one: apt-get install -y busybox-static`,
    );
  }
  return path;
}

/**
 * Makes the platform ready: idempotent, and cached by kernel version and initramfs recipe (a
 * second call only reads `current.json`). Two processes preparing at once do the work once (a
 * lock directory), and every file lands by rename, so a reader never sees half of one.
 */
export async function preparePlatform(opts: PlatformOptions = {}): Promise<Platform> {
  const dir = platformDir(opts);
  const log = opts.log ?? (() => {});
  const current = readCurrent(dir);
  if (current) return current;
  mkdirSync(dir, { recursive: true });
  return withDirLock(join(dir, '.prepare.lock'), async () => readCurrent(dir) ?? build(dir, log), {
    onWait: () => log('waiting for another process preparing the VM platform'),
  });
}

async function build(dir: string, log: (line: string) => void): Promise<Platform> {
  for (const [tool, pkg] of [
    ['apt-get', 'apt'],
    ['apt-cache', 'apt'],
    ['dpkg', 'dpkg'],
  ] as const) {
    requireTool(tool, pkg, 'to fetch the VM platform kernel');
  }
  const busybox = staticBusybox();
  const pkg = resolveKernelPackage(log);
  const kernelVersion = pkg.replace(/^linux-image-/, '');
  const work = mkdtempSync(join(dir, '.work-'));
  try {
    log(`fetching ${pkg} (the VM platform kernel; unpacked into ${dir}, nothing installed)`);
    execFileSync('apt-get', ['download', '-qq', pkg], { cwd: work, stdio: 'pipe' });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
    const tree = join(work, 'tree');
    execFileSync('dpkg', ['-x', deb, tree], { cwd: work, stdio: 'pipe' });
    const final = join(dir, kernelVersion);
    mkdirSync(final, { recursive: true });
    const kernel = join(final, 'vmlinuz');
    if (!existsSync(kernel)) {
      copyFileSync(join(tree, 'boot', `vmlinuz-${kernelVersion}`), join(work, 'vmlinuz'));
      renameSync(join(work, 'vmlinuz'), kernel);
    }
    log('building the VM initramfs (static busybox + virtio modules)');
    const initrd = join(final, `initrd-${INITRAMFS_KEY}.gz`);
    writeFileSync(join(work, 'initrd.gz'), buildPlatformInitramfs(tree, kernelVersion, busybox));
    renameSync(join(work, 'initrd.gz'), initrd);
    const platform: Platform = { kernel, initrd, kernelVersion };
    const record: CurrentRecord = { ...platform, initrdKey: INITRAMFS_KEY };
    writeFileSync(join(work, 'current.json'), JSON.stringify(record, null, 2));
    renameSync(join(work, 'current.json'), join(dir, 'current.json'));
    return platform;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
