import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export async function tempDir(prefix: string): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), `haven-${prefix}-`));
}

/** A real ext4 filesystem image (mkfs.ext4 -F on a sparse file). */
export function makeExt4(file: string, sizeMiB: number): void {
  execFileSync('truncate', ['-s', `${sizeMiB}M`, file]);
  execFileSync('mkfs.ext4', ['-q', '-F', file], { stdio: 'ignore' });
}

/** Writes `data` as file `name` into the image's root directory with debugfs -w. */
export function debugfsWrite(image: string, name: string, data: Buffer): void {
  const src = path.join(os.tmpdir(), `haven-src-${process.pid}-${randomBytes(4).toString('hex')}`);
  writeFileSync(src, data);
  try {
    execFileSync('debugfs', ['-w', '-R', `write ${src} ${name}`, image], { stdio: 'ignore' });
  } finally {
    execFileSync('rm', ['-f', src]);
  }
}

export function debugfsRm(image: string, name: string): void {
  execFileSync('debugfs', ['-w', '-R', `rm ${name}`, image], { stdio: 'ignore' });
}

/** Half compressible text, half random: a realistic file payload. */
export function mixedData(bytes: number): Buffer {
  const half = Math.floor(bytes / 2);
  const text = Buffer.from(
    `line ${randomBytes(4).toString('hex')} of some log text, repeated\n`.repeat(
      Math.ceil(half / 40),
    ),
  ).subarray(0, half);
  return Buffer.concat([text, randomBytes(bytes - half)]);
}

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
