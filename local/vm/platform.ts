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
import { buildCpioGz, type CpioEntry } from './cpioNewc';
import { initramfsInit } from './initramfsInit';
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
/** In load order; the init script loops anyway (busybox insmod resolves no dependencies). */
const MODULES = [
  'drivers/virtio/virtio.ko',
  'drivers/virtio/virtio_ring.ko',
  'drivers/virtio/virtio_pci_legacy_dev.ko',
  'drivers/virtio/virtio_pci_modern_dev.ko',
  'drivers/virtio/virtio_pci.ko',
  'drivers/block/virtio_blk.ko',
  'net/core/failover.ko',
  'drivers/net/net_failover.ko',
  'drivers/net/virtio_net.ko',
];
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
  const platform = readCurrent(platformDir(opts));
  if (!platform) missing.push(`the VM platform kernel and initramfs in ${platformDir(opts)}`);
  return missing.length === 0
    ? { ready: true, platform, missing }
    : { ready: false, ...(platform ? { platform } : {}), missing, fix: SETUP_HINT };
}

function readCurrent(dir: string): Platform | undefined {
  try {
    const p = JSON.parse(readFileSync(join(dir, 'current.json'), 'utf8')) as Platform;
    return existsSync(p.kernel) && existsSync(p.initrd) ? p : undefined;
  } catch {
    return undefined;
  }
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

/** Builds the initramfs of a kernel tree unpacked by `dpkg -x`. */
function buildInitramfs(modulesDir: string, busybox: string): Buffer {
  const entries: CpioEntry[] = ['bin', 'dev', 'proc', 'sys', 'newroot', 'lib', 'lib/modules'].map(
    (path) => ({ kind: 'dir', path }),
  );
  entries.push({ kind: 'char', path: 'dev/console', major: 5, minor: 1 });
  entries.push({ kind: 'file', path: 'bin/busybox', data: readFileSync(busybox), mode: 0o755 });
  entries.push({ kind: 'file', path: 'init', data: Buffer.from(initramfsInit), mode: 0o755 });
  MODULES.forEach((m, i) => {
    const file = join(modulesDir, 'kernel', m);
    if (!existsSync(file))
      throw new Error(`The kernel package has no ${m}; cannot build the VM initramfs.`);
    const name = `${String(i).padStart(2, '0')}-${m.split('/').pop()!}`;
    entries.push({ kind: 'file', path: `lib/modules/${name}`, data: readFileSync(file) });
  });
  return buildCpioGz(entries);
}

/**
 * Makes the platform ready (idempotent; the second call only reads `current.json`). Safe when
 * two processes prepare at once: each works in its own temp dir and renames into place.
 */
export async function preparePlatform(opts: PlatformOptions = {}): Promise<Platform> {
  const dir = platformDir(opts);
  const log = opts.log ?? (() => {});
  const current = readCurrent(dir);
  if (current) return current;
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
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, '.work-'));
  try {
    log(`fetching ${pkg} (the VM platform kernel; unpacked into ${dir}, nothing installed)`);
    execFileSync('apt-get', ['download', '-qq', pkg], { cwd: work, stdio: 'pipe' });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
    execFileSync('dpkg', ['-x', deb, 'tree'], { cwd: work, stdio: 'pipe' });
    const out = join(work, kernelVersion);
    mkdirSync(out);
    copyFileSync(join(work, 'tree', 'boot', `vmlinuz-${kernelVersion}`), join(out, 'vmlinuz'));
    log('building the VM initramfs (static busybox + virtio modules)');
    writeFileSync(
      join(out, 'initrd.gz'),
      buildInitramfs(join(work, 'tree', 'lib', 'modules', kernelVersion), busybox),
    );
    const final = join(dir, kernelVersion);
    if (!existsSync(final)) {
      try {
        renameSync(out, final);
      } catch (e) {
        if (!existsSync(final)) throw e; // else another process won the race: use its copy
      }
    }
    const platform: Platform = {
      kernel: join(final, 'vmlinuz'),
      initrd: join(final, 'initrd.gz'),
      kernelVersion,
    };
    writeFileSync(join(work, 'current.json'), JSON.stringify(platform, null, 2));
    renameSync(join(work, 'current.json'), join(dir, 'current.json'));
    return platform;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
