import { copyFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MachineJournal } from '../../../edge-agent/journal/journal';
import { WriteSplitter } from '../../../edge-agent/nbd/writeSplitter';

/** The size of the images the journal tests write to. */
export const SIZE = 4 * 1024 * 1024;

/** A random image of SIZE bytes in `dir`, with a copy of it as it started (`<name>.initial`). */
export function newImage(dir: string, name = 'disk.img'): string {
  const p = join(dir, name);
  writeFileSync(p, randomBytes(SIZE));
  copyFileSync(p, join(dir, `${name}.initial`));
  return p;
}

/** A journaled splitter on a fresh image, with one write done (its region's intent is durable). */
export async function splitterOnNewImage(dir: string) {
  const image = newImage(dir);
  const jdir = join(dir, 'j');
  const j = MachineJournal.open({ dir: jdir, bootId: 'boot-1' });
  const s = WriteSplitter.open(j, 'd', image);
  await s.write(0, Buffer.alloc(4096, 1), false);
  return { image, jdir, j, s };
}
