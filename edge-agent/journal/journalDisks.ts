import type { DirtyBitmap } from './dirtyBitmap';
import type { DiskInfo } from './journalTypes';
import type { JournalParts } from './openJournalParts';

/** The disks a journal serves: their entries in its state file, and their bitmaps. */
export class JournalDisks {
  constructor(
    private readonly p: Pick<
      JournalParts,
      'state' | 'stateFile' | 'diskBitmaps' | 'pendingFullResync' | 'recovery'
    >,
  ) {}

  /**
   * Registers a disk (idempotent by diskId). `dirty`: it has leftover dirty blocks (overflow
   * before a restart, host crash) that the journal's caller must have scanned from here.
   */
  register(
    diskId: string,
    size: number,
    path: string,
    opts: { initialSync?: boolean },
  ): { disk: DiskInfo; dirty: boolean } {
    const { state, stateFile } = this.p;
    let index = state.disks.findIndex((d) => d.diskId === diskId);
    const isNew = index < 0;
    if (index < 0) {
      state.disks.push({ diskId, size, path });
      index = state.disks.length - 1;
      stateFile.writeSync(state);
    } else if (state.disks[index]!.size !== size || state.disks[index]!.path !== path) {
      state.disks[index] = { diskId, size, path };
      stateFile.writeSync(state);
    }
    const dirty = this.p.diskBitmaps.open(
      index,
      { diskId, size, isNew, initialSync: opts.initialSync },
      { fullResync: this.p.pendingFullResync, hostCrash: this.p.recovery === 'host-crash' },
    );
    return { disk: { index, diskId, size, path }, dirty };
  }

  list(): DiskInfo[] {
    return this.p.state.disks.map((d, index) => ({ ...d, index }));
  }

  intentOf(diskIndex: number): DirtyBitmap {
    return this.p.diskBitmaps.intentOf(diskIndex);
  }

  dirtyOf(diskIndex: number): DirtyBitmap {
    return this.p.diskBitmaps.dirtyOf(diskIndex);
  }

  close(): void {
    this.p.diskBitmaps.close();
  }
}
