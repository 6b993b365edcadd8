import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { JournalState } from './journalTypes';

/** The kernel's id of this boot: a journal left open under another one saw a host crash. */
export function currentBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/**
 * The journal's `state.json` (released LSN, disks, open flag), replaced atomically: written to
 * a temporary file, synced, renamed, and the directory synced, so a crash leaves the old or
 * the new state, never a torn one.
 */
export class JournalStateFile {
  private readonly path: string;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string) {
    this.path = join(dir, 'state.json');
  }

  load(): JournalState | undefined {
    if (!existsSync(this.path)) return undefined;
    return JSON.parse(readFileSync(this.path, 'utf8')) as JournalState;
  }

  writeSync(state: JournalState): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
    const dfd = openSync(this.dir, 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  }

  /**
   * The same off the event loop (the NBD server sharing it must not wait for two fsyncs);
   * writes are chained, and each serializes the state when it runs, so what lands last is the
   * newest state (a synchronous write in between is never undone by an older snapshot).
   */
  write(state: JournalState): Promise<void> {
    this.chain = this.chain.then(async () => {
      const text = JSON.stringify(state);
      const tmp = `${this.path}.tmp`;
      const fh = await fsp.open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(text);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, this.path);
      const d = await fsp.open(this.dir, 'r');
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    });
    return this.chain;
  }

  /** Waits for queued writes (their failure is the caller's of write()). */
  settled(): Promise<void> {
    return this.chain.catch(() => undefined);
  }
}
