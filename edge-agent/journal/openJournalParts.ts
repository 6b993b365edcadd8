import { DiskBitmaps } from './diskBitmaps';
import { DiskSyncs } from './diskSyncs';
import type { JournalOptions, JournalRecord, JournalState, RecoveryKind } from './journalTypes';
import type { JournalStateFile } from './journalStateFile';
import { OverflowState } from './overflowState';
import { recoverJournal } from './recoverJournal';
import { SegmentLog } from './segmentLog';
import { AlignedSlabs } from './alignedSlabs';
import { AheadMarks } from './aheadMarks';

/** An opened journal's parts, before its Open record is appended. */
export interface JournalParts {
  overflow: OverflowState;
  log: (msg: string) => void;
  diskBitmaps: DiskBitmaps;
  stateFile: JournalStateFile;
  state: JournalState;
  recovery: RecoveryKind;
  bootId: string;
  redo: JournalRecord[];
  /** Next LSN to assign. */
  nextLsn: number;
  diskSyncs: DiskSyncs;
  diskSyncLagBytes: number;
  /** The lag while large writes stream through the journal O_DIRECT (a quarter of the capacity). */
  diskSyncBurstLagBytes: number;
  segs: SegmentLog;
  /** Memory for payloads journaled O_DIRECT; absent when off or the filesystem refuses it. */
  slabs?: AlignedSlabs;
  /** Every disk registered from now on is marked for a full resync (journal lost). */
  pendingFullResync: boolean;
}

/**
 * Opens a journal directory with the defaults applied: recovers what the last run left, marks
 * the state open under this boot and opens the segment log after the recovered segments.
 */
export function openJournalParts(opts: JournalOptions): JournalParts {
  const capacityBytes = opts.capacityBytes ?? 4 * 1024 * 1024 * 1024;
  const resumeBelowBytes = opts.resumeBelowBytes ?? Math.floor(capacityBytes / 2);
  const overflow = new OverflowState(capacityBytes, resumeBelowBytes);
  const log = opts.log ?? (() => {});
  const diskBitmaps = new DiskBitmaps(opts.dir, opts.bitmapBlock ?? 64 * 1024, log);
  const found = recoverJournal({ ...opts, log });
  const { scan, recovery, bootId, stateFile, state } = found;
  const nextLsn = Math.max(scan.nextLsn, state.releasedLsn + 1);
  // Image writes the crashed run issued ahead of records it lost: dirty before anything else.
  diskBitmaps.markLost(state.disks, AheadMarks.lost(opts.dir, nextLsn - 1));
  const marks = AheadMarks.open(opts.dir);
  const diskSyncs = new DiskSyncs(state.diskSyncedLsn!);
  const segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
  // At most a quarter of the capacity: what released segments may hold back during a stream
  // of large writes (see JournalRelease).
  const diskSyncBurstLagBytes = Math.floor(resumeBelowBytes / 2);
  const diskSyncLagBytes = Math.min(
    opts.diskSyncLagBytes ?? 2 * segmentBytes,
    diskSyncBurstLagBytes,
  );
  state.bootId = bootId;
  state.open = true;
  if (opts.machineId) state.machineId = opts.machineId;
  stateFile.writeSync(state);
  const slabs =
    opts.directPayloads === false
      ? undefined
      : AlignedSlabs.open(opts.dir, { poison: opts.poisonReusedPayloads });
  const segs = new SegmentLog(
    {
      dir: opts.dir,
      segmentBytes,
      preallocate: opts.preallocate ?? false,
      direct: slabs !== undefined,
      writeDirect: opts.writeDirect,
      marks,
      pins: slabs,
      log,
    },
    scan.segments,
    nextLsn,
  );
  if (recovery === 'host-crash' || recovery === 'journal-lost') {
    log(`journal: ${recovery}: every disk is marked for resync`);
  }
  return {
    overflow,
    log,
    diskBitmaps,
    stateFile,
    state,
    recovery,
    bootId,
    redo: found.redo,
    nextLsn,
    diskSyncs,
    diskSyncLagBytes,
    diskSyncBurstLagBytes,
    segs,
    slabs,
    // After a host crash only the regions in each disk's intent log are resynced (see
    // registerDisk); after journal loss, everything.
    pendingFullResync: recovery === 'journal-lost',
  };
}
