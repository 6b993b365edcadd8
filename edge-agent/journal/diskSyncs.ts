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

  constructor(public syncedLsn: number) {}

  /** The splitter of a disk registers its image sync; the returned function unregisters it. */
  register(diskIndex: number, sync: () => Promise<void>): () => void {
    this.hooks.set(diskIndex, sync);
    return () => {
      if (this.hooks.get(diskIndex) === sync) this.hooks.delete(diskIndex);
    };
  }

  /**
   * Syncs every registered disk. `upTo` is the journal's last LSN when called: the splitters
   * write a record's image bytes in the same event-loop turn as its append, so every record
   * ≤ upTo has its image write issued before these syncs start.
   */
  async syncAll(upTo: number): Promise<void> {
    await Promise.all([...this.hooks.values()].map((f) => f()));
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
