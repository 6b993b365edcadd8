import { expect } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
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
  ]);
  const exited = new Promise<void>((r) => server.once('exit', () => r()));
  return { dir, image, socket, journalDir, server, exited };
}

/** Nothing on the image the journal lacks: the journal replayed onto the initial image is it. */
export function expectImageIsJournalReplayed(run: KilledServerRun, journal: MachineJournal): void {
  const replica = join(run.dir, 'replica.img');
  copyFileSync(join(run.dir, 'initial.img'), replica);
  replayJournal(journal, 'disk0', replica);
  expect(sha256File(replica)).toBe(sha256File(run.image));
}
