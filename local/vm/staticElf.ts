import { closeSync, openSync, readSync } from 'node:fs';

const PT_INTERP = 3;

/**
 * True when `path` is a 64-bit little-endian ELF executable without a program interpreter
 * (statically linked). The initramfs has no libc, so only a static busybox can run there;
 * Debian's `busybox` and `busybox-static` install the same path, so the path alone says nothing.
 */
export function isStaticElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return false;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (table.readUInt32LE(i * phentsize) === PT_INTERP) return false;
    }
    return true;
  } finally {
    closeSync(fd);
  }
}
