import type { JournalAppender } from './journalAppender';
import type { JournalParts } from './openJournalParts';
import { ALL_DISKS, RecordType } from './records';

/**
 * When the journal's records may go: released downstream, and durable on the served disks
 * (the journal is the write-ahead log, rule 3). Keeps `releasedLsn` and `diskSyncedLsn` in the
 * state file ahead of every segment it drops.
 */
export class JournalRelease {
  constructor(
    private readonly p: Pick<
      JournalParts,
      | 'state'
      | 'stateFile'
      | 'segs'
      | 'diskSyncs'
      | 'overflow'
      | 'diskSyncLagBytes'
      | 'diskSyncBurstLagBytes'
      | 'recovery'
    >,
    private readonly appender: JournalAppender,
    /** Resume journaling if it was stopped and there is room again (after each release). */
    private readonly maybeResume: () => void,
    /** Payload bytes journaled O_DIRECT so far (large writes). */
    private readonly streamedBytes: () => number,
  ) {}

  private streamedAtLastRelease = 0;

  /**
   * Downstream (batcher + spool) durably holds everything ≤ lsn: drop whole segments. A segment
   * also waits until a disk sync covers its records (a FLUSH synced the journal only, so until
   * then the journal is the durable copy of those changes); the disks are synced here once the
   * released segments held back for it reach `diskSyncLagBytes` (2 segments), or half the room
   * left in the journal (held segments count towards its capacity: a sync makes room before
   * journaling would have to stop). While large writes stream through (payloads journaled
   * O_DIRECT since the last release) the lag is a quarter of the capacity: a sync forces out
   * the disks' dirty pages, competing with the stream for the disk (a 1 MiB sequential burst
   * lost a fifth of its rate to one sync per two segments); it comes once the stream pauses.
   * Small writes keep the short lag: segments synced early come back as spares, and appending
   * to a new file instead cost a 50 MB/s random-write run half a second of RPO.
   */
  async release(lsn: number): Promise<void> {
    const { state, segs, diskSyncs, overflow } = this.p;
    if (lsn <= state.releasedLsn) return;
    state.releasedLsn = lsn;
    const held = segs.droppableBytes(lsn) - segs.droppableBytes(diskSyncs.syncedLsn);
    const room = overflow.capacityBytes - segs.retainedBytes();
    const streamed = this.streamedBytes();
    const streaming = streamed !== this.streamedAtLastRelease;
    this.streamedAtLastRelease = streamed;
    const base = streaming ? this.p.diskSyncBurstLagBytes : this.p.diskSyncLagBytes;
    const lag = Math.min(base, room / 2);
    if (held > 0 && (held >= lag || overflow.stopped)) {
      await this.syncDisks();
    }
    // The released LSN is on disk before any segment goes: a restart must never find a gap
    // between it and the first segment (that would read as journal loss → full resync).
    // Async, so the NBD server sharing this event loop is not held by two fsyncs.
    state.diskSyncedLsn = diskSyncs.syncedLsn;
    await this.p.stateFile.write(state);
    segs.releaseThrough(Math.min(state.releasedLsn, diskSyncs.syncedLsn));
    this.maybeResume();
  }

  /** The splitter of a disk registers its image sync and settle (see DiskSyncs). */
  onDiskSync(
    diskIndex: number,
    sync: () => Promise<void>,
    settle?: () => Promise<void>,
  ): () => void {
    return this.p.diskSyncs.register(diskIndex, sync, settle);
  }

  settleDisk(diskIndex: number): Promise<void> {
    return this.p.diskSyncs.settle(diskIndex);
  }

  /** Every record appended so far becomes durable on its disk (once it is in the file). */
  async syncDisks(): Promise<void> {
    this.appender.flushBatch();
    const upTo = this.appender.lastLsn;
    await this.p.segs.whenWritten(upTo);
    return this.p.diskSyncs.syncAll(upTo);
  }

  /**
   * Before an unjournaled (overflow) write changes a disk: the `Overflow` record is appended
   * once every journaled record is on its disk (image writes run in the thread pool; a
   * process-crash redo re-applies none from before an `Overflow`, so none may be in flight
   * then), then every journaled record is made durable on the disks, and the state says so. A
   * host crash redoes only records after `diskSyncedLsn`, so the redo never replays a record
   * over a newer write the journal does not have. Once per overflow.
   */
  beforeUnjournaled(): Promise<void> {
    return this.p.overflow.syncOnce(async () => {
      await this.p.diskSyncs.settleAll();
      this.appender.append(RecordType.Overflow, ALL_DISKS, 0, 0);
      await this.syncDisks();
      this.p.state.diskSyncedLsn = this.p.diskSyncs.syncedLsn;
      await this.p.stateFile.write(this.p.state);
    });
  }

  /**
   * After a host crash: where the redo onto the disks starts (records after the last disk sync;
   * undefined after any other kind of start). Segments below it were dropped only after a disk
   * sync, so the retained journal holds every record the redo needs.
   */
  hostCrashRedoFrom(): number | undefined {
    if (this.p.recovery !== 'host-crash') return undefined;
    const first = this.p.segs.list()[0]?.firstLsn ?? this.appender.lastLsn + 1;
    return Math.max(this.p.diskSyncs.syncedLsn + 1, first);
  }

  /** At a clean close: every record durable on the disks and the state writes settled. */
  async syncForClose(): Promise<void> {
    // The disks hold every record durably: the next start (clean) needs no redo.
    await this.syncDisks();
    this.p.state.diskSyncedLsn = this.p.diskSyncs.syncedLsn;
    await this.p.stateFile.settled();
  }
}
