import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCpioGz, type CpioEntry } from './cpioNewc';
import { initramfsInit } from './initramfsInit';

/**
 * The platform initramfs: the static busybox, the `/init` script and the kernel modules a
 * recovered disk needs before its own init runs, taken from the same kernel package.
 *
 * In load order (the init script loops anyway: busybox insmod resolves no dependencies):
 * virtio transport and disk, the virtio NIC and its failover helpers, and the ACPI power
 * button with the event device it reports through, so that a graceful stop (the power button
 * pressed over QMP) reaches the guest and it can shut down cleanly.
 */
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
  'drivers/input/evdev.ko',
  'drivers/acpi/button.ko',
];

/** ext4 and what it needs, loaded only when the kernel has it as a module (Debian builds it in). */
const EXT4_MODULES = [
  'lib/crc16.ko',
  'crypto/crc32c_generic.ko',
  'fs/mbcache.ko',
  'fs/jbd2/jbd2.ko',
  'fs/ext4/ext4.ko',
];

/**
 * Names what goes into the initramfs (script and module list): the cache keeps one initramfs
 * per key, so a change here rebuilds it instead of booting guests with a stale one.
 */
export const INITRAMFS_KEY = createHash('sha256')
  .update(initramfsInit)
  .update(MODULES.join('\n'))
  .update(EXT4_MODULES.join('\n'))
  .digest('hex')
  .slice(0, 12);

/** How the kernel's config has a feature: built in, a module, or not at all. */
function configValue(config: string, symbol: string): 'y' | 'm' | undefined {
  const m = new RegExp(`^${symbol}=([ym])$`, 'm').exec(config);
  return m ? (m[1] as 'y' | 'm') : undefined;
}

/**
 * Builds the initramfs from a kernel package unpacked by `dpkg -x` into `tree`. A module that
 * is absent as a file must be built into the kernel (modules.builtin says so), else the
 * package is not one this platform can boot with.
 */
export function buildPlatformInitramfs(
  tree: string,
  kernelVersion: string,
  busybox: string,
): Buffer {
  const modulesDir = join(tree, 'lib', 'modules', kernelVersion);
  const config = readFileSync(join(tree, 'boot', `config-${kernelVersion}`), 'utf8');
  const ext4 = configValue(config, 'CONFIG_EXT4_FS');
  if (!ext4) throw new Error(`The kernel ${kernelVersion} has no ext4 support (CONFIG_EXT4_FS).`);
  const builtinFile = join(modulesDir, 'modules.builtin');
  const builtin = new Set(
    existsSync(builtinFile) ? readFileSync(builtinFile, 'utf8').split('\n').filter(Boolean) : [],
  );
  const wanted = ext4 === 'm' ? [...MODULES, ...EXT4_MODULES] : MODULES;

  const entries: CpioEntry[] = ['bin', 'dev', 'proc', 'sys', 'newroot', 'lib', 'lib/modules'].map(
    (path) => ({ kind: 'dir', path }),
  );
  entries.push({ kind: 'char', path: 'dev/console', major: 5, minor: 1 });
  entries.push({ kind: 'file', path: 'bin/busybox', data: readFileSync(busybox), mode: 0o755 });
  entries.push({ kind: 'file', path: 'init', data: Buffer.from(initramfsInit), mode: 0o755 });
  wanted.forEach((m, i) => {
    const file = join(modulesDir, 'kernel', m);
    if (!existsSync(file)) {
      if (builtin.has(`kernel/${m}`)) return;
      throw new Error(`The kernel package has no ${m}; cannot build the VM initramfs.`);
    }
    const name = `${String(i).padStart(2, '0')}-${m.split('/').pop()!}`;
    entries.push({ kind: 'file', path: `lib/modules/${name}`, data: readFileSync(file) });
  });
  return buildCpioGz(entries);
}
