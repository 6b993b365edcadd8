import { gzipSync } from 'node:zlib';

/**
 * A newc ("070701") cpio archive, the format the Linux kernel unpacks as an initramfs. Written
 * here so that building the platform's initramfs needs no `cpio` binary on the host.
 */
export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer; mode?: number }
  | { kind: 'char'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);

function header(
  ino: number,
  mode: number,
  size: number,
  name: string,
  rdev: [number, number] = [0, 0],
): Buffer {
  const nameBytes = Buffer.from(`${name}\0`);
  const fields = [
    ino,
    mode,
    0, // uid: root
    0, // gid
    mode & S_IFDIR ? 2 : 1, // nlink
    0, // mtime: fixed, so the archive is reproducible
    size,
    0,
    0,
    rdev[0],
    rdev[1],
    nameBytes.length,
    0, // check (unused by newc)
  ];
  const head = Buffer.from(`070701${fields.map(hex8).join('')}`, 'ascii');
  return Buffer.concat([head, nameBytes, pad4(head.length + nameBytes.length)]);
}

/** The gzip-compressed newc archive of `entries` (parents must precede children). */
export function buildCpioGz(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, '');
    if (e.kind === 'dir') {
      parts.push(header(ino++, S_IFDIR | (e.mode ?? 0o755), 0, path));
    } else if (e.kind === 'char') {
      parts.push(header(ino++, S_IFCHR | (e.mode ?? 0o600), 0, path, [e.major, e.minor]));
    } else {
      parts.push(header(ino++, S_IFREG | (e.mode ?? 0o644), e.data.length, path));
      parts.push(e.data, pad4(e.data.length));
    }
  }
  parts.push(header(ino, 0, 0, 'TRAILER!!!'));
  return gzipSync(Buffer.concat(parts), { level: 6 });
}
