import { expect } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { MachineJournal } from '../../../edge-agent/journal/journal';
import { replayJournal } from '../../../edge-agent/journal/replay';
import { sha256File } from '../../../local/images/ext4';
import { startServeDisk, tempDir } from './helpers';

/** A `serve-disk` child (disk id `disk0`) on a fresh random image, for the kill -9 tests. */
export interface KilledServerRun {
  dir: string;
  image: string;
  socket: string;
  journalDir: string;
  server: ChildProcess;
  /** Resolves when the child has exited. */
  exited: Promise<void>;
}

export async function serveFreshDisk(size: number): Promise<KilledServerRun> {
  const dir = tempDir();
  const image = join(dir, 'disk.img');
  writeFileSync(image, randomBytes(size));
  copyFileSync(image, join(dir, 'initial.img'));
  const socket = join(dir, 'nbd.sock');
  const journalDir = join(dir, 'journal');
  const server = await startServeDisk([
    image,
    '--socket',
    socket,
    '--journal',
    journalDir,
    '--disk-id',
    'disk0',
    // The replica starts as the initial image: the dirty bitmap then holds only what a crash
    // adds (a whole-disk initial sync would hide it).
    '--no-initial-sync',
  ]);
  const exited = new Promise<void>((r) => server.once('exit', () => r()));
  return { dir, image, socket, journalDir, server, exited };
}

/** Bytes in the journal's files now (segments and payload files grow as records land). */
export function journalBytes(journalDir: string): number {
  let n = 0;
  for (const f of readdirSync(journalDir)) {
    try {
      n += statSync(join(journalDir, f)).size;
    } catch {
      // removed meanwhile
    }
  }
  return n;
}

/**
 * What the replica gets is the image: the journal replayed onto the initial image, then the
 * ranges the reopened journal marked dirty (image writes issued ahead of records the kill lost,
 * see AheadMarks; the Resync sends them from the image) copied from the image. Nothing else on
 * the image may be missing from the journal. Returns the bytes resynced that way.
 */
export function expectReplicaIsImage(run: KilledServerRun, journal: MachineJournal): number {
  const replica = join(run.dir, 'replica.img');
  copyFileSync(join(run.dir, 'initial.img'), replica);
  replayJournal(journal, 'disk0', replica);
  const disk = journal.disks().find((d) => d.diskId === 'disk0')!;
  const bitmap = journal.bitmap(disk.index);
  const from = openSync(run.image, 'r');
  const to = openSync(replica, 'r+');
  let resynced = 0;
  try {
    const buf = Buffer.alloc(bitmap.blockSize);
    for (const block of bitmap.setBlocks()) {
      const offset = block * bitmap.blockSize;
      const n = readSync(from, buf, 0, Math.min(buf.length, disk.size - offset), offset);
      writeSync(to, buf, 0, n, offset);
      resynced += n;
    }
  } finally {
    closeSync(from);
    closeSync(to);
  }
  expect(sha256File(replica)).toBe(sha256File(run.image));
  return resynced;
}
