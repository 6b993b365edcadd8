import { closeSync, fdatasyncSync, openSync } from 'node:fs';

/**
 * The served disks' fdatasyncs as the journal sees them. The journal is the write-ahead log: a
 * FLUSH makes a change durable in the journal only, and the disks' copies become durable later,
 * when `syncAll` runs (before the journal drops a segment, when journaling stops for an overflow,
 * at close). `syncedLsn`: every change record ≤ it is durable on its disk; a host crash redoes
 * the later ones from the journal onto the disks.
 */
export class DiskSyncs {
  private readonly hooks = new Map<number, () => Promise<void>>();
  private readonly settles = new Map<number, () => Promise<void>>();

  constructor(public syncedLsn: number) {}

  /**
   * The splitter of a disk registers its image sync, and how to wait for the image writes of
   * the records appended so far; the returned function unregisters them.
   */
  register(
    diskIndex: number,
    sync: () => Promise<void>,
    settle: () => Promise<void> = () => Promise.resolve(),
  ): () => void {
    this.hooks.set(diskIndex, sync);
    this.settles.set(diskIndex, settle);
    return () => {
      if (this.hooks.get(diskIndex) !== sync) return;
      this.hooks.delete(diskIndex);
      this.settles.delete(diskIndex);
    };
  }

  /** Settles once every disk's image holds every record appended so far. */
  async settleAll(): Promise<void> {
    await Promise.all([...this.settles.values()].map((f) => f()));
  }

  /** Settles once the disk's image holds every record appended so far (nothing if not served). */
  settle(diskIndex: number): Promise<void> {
    return this.settles.get(diskIndex)?.() ?? Promise.resolve();
  }

  /**
   * Syncs every registered disk. `upTo` is the journal's last LSN when called: every record
   * ≤ upTo has its image write issued by then, and each disk's sync starts once those still in
   * flight are done (its settle), so the sync covers them.
   */
  async syncAll(upTo: number): Promise<void> {
    await Promise.all([...this.hooks].map(([disk, sync]) => this.settle(disk).then(sync)));
    this.syncedLsn = Math.max(this.syncedLsn, upTo);
  }
}

/** fdatasync of each disk (best effort: a disk that is gone is not served either). */
export function syncDiskFiles(paths: string[], log: (msg: string) => void): void {
  for (const p of paths) {
    try {
      const fd = openSync(p, 'r');
      try {
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      log(`journal: could not sync ${p}: ${(e as Error).message}`);
    }
  }
}
