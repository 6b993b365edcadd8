/**
 * Every external program Haven's local world spawns, the Debian package that brings it, and why.
 * The set-up step (`local/setup/main.ts`) installs what is missing for the purpose at hand; a
 * test keeps this table in step with what the tree really spawns.
 *
 * A protected server needs none of these: the agent (`haven-agent`) is Node alone.
 */
export type Purpose = 'stack' | 'demo' | 'tests' | 'bench';

export interface Requirement {
  /** A program on PATH, or with `file` the absolute path of a file to compile against. */
  tool: string;
  debianPackage: string;
  why: string;
  for: readonly Purpose[];
  /** The binary must be statically linked (it runs inside an initramfs without libc). */
  static?: boolean;
  /** `tool` is a file that must exist (a C header), not a program. */
  file?: boolean;
}

const all: readonly Purpose[] = ['stack', 'demo', 'tests', 'bench'];
const images: readonly Purpose[] = ['demo', 'tests', 'bench'];

export const requirements: readonly Requirement[] = [
  { tool: 'mkfs.ext4', debianPackage: 'e2fsprogs', why: 'real ext4 server disks', for: images },
  {
    tool: 'debugfs',
    debianPackage: 'e2fsprogs',
    why: 'reading and writing files in disk images',
    for: images,
  },
  {
    tool: 'e2fsck',
    debianPackage: 'e2fsprogs',
    why: 'proving restored filesystems clean',
    for: images,
  },
  {
    tool: 'filefrag',
    debianPackage: 'e2fsprogs',
    why: 'snapshot digests read only the blocks a local managed disk holds',
    for: all,
  },
  { tool: 'resize2fs', debianPackage: 'e2fsprogs', why: 'resized-disk tests', for: ['tests'] },
  {
    tool: 'qemu-io',
    debianPackage: 'qemu-utils',
    why: 'writes through the NBD write splitter',
    for: images,
  },
  { tool: 'qemu-img', debianPackage: 'qemu-utils', why: 'disk image checks', for: images },
  {
    tool: 'qemu-nbd',
    debianPackage: 'qemu-utils',
    why: 'the NBD baseline and tests',
    for: ['tests', 'bench'],
  },
  {
    tool: 'qemu-system-x86_64',
    debianPackage: 'qemu-system-x86',
    why: 'recovered VMs (the local Azure VMs)',
    for: all,
  },
  {
    tool: 'qemu-storage-daemon',
    debianPackage: 'qemu-system-common',
    why: 'the kernel-ext4 test (a FUSE export of the splitter)',
    for: ['tests'],
  },
  {
    tool: 'busybox',
    debianPackage: 'busybox-static',
    why: 'bootable server disks and the VM initramfs',
    for: all,
    static: true,
  },
  {
    tool: 'openssl',
    debianPackage: 'openssl',
    why: 'the local ARM endpoint certificate',
    for: all,
  },
  {
    tool: 'losetup',
    debianPackage: 'mount',
    why: 'the kernel-ext4 test (a loop device over FUSE)',
    for: ['tests'],
  },
  {
    tool: 'fio',
    debianPackage: 'fio',
    why: 'splitter tests and benchmarks',
    for: ['tests', 'bench'],
  },
  { tool: 'rsync', debianPackage: 'rsync', why: 'delta-pass baseline', for: ['bench'] },
  { tool: 'restic', debianPackage: 'restic', why: 'backup baseline', for: ['bench'] },
  {
    tool: 'nbdkit',
    debianPackage: 'nbdkit',
    why: "serves the splitter bench's C bound (an nbdkit plugin)",
    for: ['bench'],
  },
  { tool: 'gcc', debianPackage: 'gcc', why: "builds the splitter bench's C bound", for: ['bench'] },
  ...(
    [
      ['/usr/include/stdlib.h', 'libc6-dev'],
      ['/usr/include/nbdkit-plugin.h', 'nbdkit-plugin-dev'],
      ['/usr/include/xxhash.h', 'libxxhash-dev'],
    ] as const
  ).map(([header, debianPackage]) => ({
    tool: header,
    debianPackage,
    why: "a header the splitter bench's C bound includes",
    for: ['bench'] as Purpose[],
    file: true,
  })),
];
