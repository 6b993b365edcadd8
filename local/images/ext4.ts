import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  closeSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTool } from '../setup/requireTool';

const debugfs = () => requireTool('debugfs', 'e2fsprogs', 'to read and write files in disk images');

/**
 * Writes mixed content into `dir`, the shape of a server's data: incompressible files (media,
 * encrypted data), compressible text and logs, about `budget` bytes in all.
 */
export function writeMixedContent(dir: string, budget: number): void {
  let used = 0;
  let i = 0;
  const text = Buffer.from(
    Array.from(
      { length: 2000 },
      (_, k) => `${k} INFO request served path=/api/items/${k % 97} status=200 ms=${k % 13}\n`,
    ).join(''),
  );
  mkdirSync(join(dir, 'var/log'), { recursive: true });
  mkdirSync(join(dir, 'srv/data'), { recursive: true });
  while (used < budget) {
    const size = Math.min(budget - used, (1 + (i % 8)) * 1024 * 1024);
    const kind = i % 3;
    let body: Buffer;
    if (kind === 0) body = randomBytes(size);
    else if (kind === 1)
      body = Buffer.concat(
        Array.from({ length: Math.ceil(size / text.length) }, () => text),
      ).subarray(0, size);
    else body = Buffer.concat([randomBytes(size / 2), Buffer.alloc(size - size / 2, 0x41)]);
    writeFileSync(join(dir, kind === 1 ? `var/log/app${i}.log` : `srv/data/blob${i}.bin`), body);
    used += size;
    i++;
  }
}

/** A whole-disk ext4 image of `sizeBytes` holding the tree `dir` (mkfs.ext4 -d: no mount needed). */
export function mkfsExt4FromDir(path: string, sizeBytes: number, dir: string): void {
  rmSync(path, { force: true });
  execFileSync(
    requireTool('mkfs.ext4', 'e2fsprogs', 'to make ext4 disk images'),
    [
      '-q',
      '-F',
      '-d',
      dir,
      '-E',
      'lazy_itable_init=0,lazy_journal_init=0',
      path,
      `${Math.floor(sizeBytes / 1024)}k`,
    ],
    { stdio: 'pipe' },
  );
}

/**
 * Builds a real ext4 image with mixed content, the shape of a server's disk (see
 * `writeMixedContent`), and free space that stays zero. `fill` is the share of the image given
 * to file content.
 */
export function makeExt4Image(
  path: string,
  sizeBytes: number,
  opts: { fill?: number; seed?: string } = {},
): void {
  const dir = mkdtempSync(join(tmpdir(), 'haven-img-'));
  try {
    writeMixedContent(dir, Math.floor(sizeBytes * (opts.fill ?? 0.5)));
    mkfsExt4FromDir(path, sizeBytes, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes a file into an ext4 image without mounting it (debugfs -w). */
export function debugfsWrite(image: string, fsPath: string, content: Buffer): void {
  const dir = mkdtempSync(join(tmpdir(), 'haven-dbg-'));
  const src = join(dir, 'f');
  writeFileSync(src, content);
  try {
    execFileSync(debugfs(), ['-w', '-R', `write ${src} ${fsPath}`, image], { stdio: 'pipe' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Reads a file out of an ext4 image without mounting it (debugfs cat); undefined when absent. */
export function debugfsRead(image: string, fsPath: string): Buffer | undefined {
  const stat = spawnSync(debugfs(), ['-R', `stat ${fsPath}`, image], { encoding: 'utf8' });
  if (stat.error) throw stat.error;
  if (/File not found|not found by ext2_lookup/.test(stat.stderr ?? '')) return undefined;
  return execFileSync(debugfs(), ['-R', `cat ${fsPath}`, image], {
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1024 * 1024 * 1024,
  });
}

/** Removes a file from an ext4 image without mounting it (debugfs -w). */
export function debugfsRm(image: string, fsPath: string): void {
  execFileSync(debugfs(), ['-w', '-R', `rm ${fsPath}`, image], { stdio: 'pipe' });
}

/**
 * e2fsck -fn: true when the filesystem is clean, false when e2fsck found errors (exit 1, 2 or
 * 4: what it found is in its output). Throws when it could not check at all (not installed,
 * no such image, an operational or usage error: exit 8 and above), which is not "not clean".
 */
export function fsckClean(image: string): boolean {
  const e2fsck = requireTool('e2fsck', 'e2fsprogs', 'to prove filesystems clean');
  const r = spawnSync(e2fsck, ['-fn', image], { encoding: 'utf8' });
  if (r.error) throw new Error(`e2fsck ${image}: ${r.error.message}`);
  if (r.status === 0) return true;
  if (r.status !== null && r.status >= 1 && r.status <= 7 && !(r.status & 8)) return false;
  throw new Error(
    `e2fsck could not check ${image} (exit ${r.status ?? r.signal}): ${r.stderr || r.stdout}`,
  );
}

export function sha256File(path: string, length?: number): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
  let pos = 0;
  try {
    for (;;) {
      const want = length === undefined ? buf.length : Math.min(buf.length, length - pos);
      if (want <= 0) break;
      const n = readSync(fd, buf, 0, want, pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}
