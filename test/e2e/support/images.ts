import { randomBytes } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { debugfsWrite, fsckClean, makeExt4Image, sha256File } from '../../../local/images/ext4';

export { fsckClean, sha256File };
const MiB = 1024 * 1024;

/** A real ext4 image with mixed files (mkfs.ext4 -d), `fill` of it used. */
export function makeImage(file: string, sizeMiB: number, fill = 0.4): void {
  makeExt4Image(file, sizeMiB * MiB, { fill });
}

/** The server keeps writing: a few new files through debugfs -w (real ext4 allocation and metadata). */
export function changeFiles(image: string, tag: string, files = 3, maxKiB = 512): void {
  for (let i = 0; i < files; i++) {
    const kib = 4 + Math.floor(Math.random() * maxKiB);
    const half = Buffer.alloc(kib * 512, `${tag}-${i} log line\n`);
    debugfsWrite(image, `/${tag}-${i}.dat`, Buffer.concat([half, randomBytes(kib * 512)]));
  }
}

/** Keeps the source as it is now (the bytes a point taken now must restore to). */
export function keepCopy(image: string, to: string): string {
  copyFileSync(image, to);
  return sha256File(to);
}
