import { join } from 'node:path';
import type { AheadMark } from './aheadMarks';
import { DirtyBitmap } from './dirtyBitmap';
import { INTENT_REGION } from './journalTypes';

/**
 * The two persistent bitmaps of each served disk, in the journal's directory: `dirty-<disk>`
 * (blocks to send again from the image: overflow, resync, initial sync) and `intent-<disk>`
 * (regions written since their last FLUSH: what a host crash can tear, rule 4).
 */
export class DiskBitmaps {
  private readonly dirty = new Map<number, DirtyBitmap>();
  private readonly intents = new Map<number, DirtyBitmap>();

  constructor(
    private readonly dir: string,
    private readonly blockSize: number,
    private readonly log: (msg: string) => void,
  ) {}

  /**
   * Opens a disk's bitmaps and marks, durably, what must be sent from its image: everything
   * after journal loss or for a disk new to the journal that wants an initial sync; after a
   * host crash the regions of its intent log. True when anything is dirty.
   */
  open(
    index: number,
    disk: { diskId: string; size: number; isNew: boolean; initialSync?: boolean },
    after: { fullResync: boolean; hostCrash: boolean },
  ): boolean {
    const { diskId, size, isNew } = disk;
    const bm = new DirtyBitmap(join(this.dir, `dirty-${diskId}.bitmap`), size, this.blockSize);
    this.dirty.set(index, bm);
    const intent = new DirtyBitmap(join(this.dir, `intent-${diskId}.bitmap`), size, INTENT_REGION);
    this.intents.set(index, intent);
    // A disk new to the journal: the replica does not have its current content yet (initial
    // sync), unless the caller knows it does. Full resync goes through the same scan path.
    if (after.fullResync || (isNew && disk.initialSync)) {
      bm.markAll();
      bm.persistSync();
    } else if (after.hostCrash && !isNew) {
      // Only regions written since their last FLUSH can differ between image and journal.
      // No intent file for a known disk: nothing is known, resync all of it.
      if (!intent.existed) bm.markAll();
      for (const r of intent.setBlocks()) bm.mark(r * INTENT_REGION, INTENT_REGION);
      bm.persistSync();
      this.log(
        `journal: host crash: ${intent.setBlocks().length} region(s) of ${diskId} to resync`,
      );
    }
    return bm.dirtyCount() > 0;
  }

  /**
   * Before the journal writes anything after a crash: the ranges of image writes issued ahead
   * of records the journal lost (see AheadMarks) are marked dirty in their disks' bitmaps,
   * durably; registering the disk then finds them (a `Resync`).
   */
  markLost(disks: Array<{ diskId: string; size: number }>, lost: AheadMark[]): void {
    for (const [index, disk] of disks.entries()) {
      const mine = lost.filter((m) => m.diskIndex === index);
      if (!mine.length) continue;
      const path = join(this.dir, `dirty-${disk.diskId}.bitmap`);
      const bm = new DirtyBitmap(path, disk.size, this.blockSize);
      try {
        for (const m of mine) bm.mark(m.offset, m.length);
        bm.persistSync();
      } finally {
        bm.close();
      }
      this.log(`journal: ${mine.length} write(s) to ${disk.diskId} lost with the crash: resync`);
    }
  }

  dirtyOf(index: number): DirtyBitmap {
    return this.get(this.dirty, index);
  }

  intentOf(index: number): DirtyBitmap {
    return this.get(this.intents, index);
  }

  private get(m: Map<number, DirtyBitmap>, index: number): DirtyBitmap {
    const b = m.get(index);
    if (!b) throw new Error(`journal: disk ${index} not registered in this process`);
    return b;
  }

  close(): void {
    for (const b of this.dirty.values()) b.close();
    for (const b of this.intents.values()) b.close();
  }
}
