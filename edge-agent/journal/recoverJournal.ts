import { chmodSync, mkdirSync } from 'node:fs';
import { syncDiskFiles } from './diskSyncs';
import { currentBootId, JournalStateFile } from './journalStateFile';
import type { JournalRecord, JournalState, RecoveryKind } from './journalTypes';
import { scanSegments } from './segmentScan';

/** What a journal finds when it opens its directory. */
export interface RecoveredJournal {
  state: JournalState;
  stateFile: JournalStateFile;
  recovery: RecoveryKind;
  bootId: string;
  scan: ReturnType<typeof scanSegments>;
  /** After a process crash: the last changes of each disk, re-applied (see MachineJournal.redo). */
  redo: JournalRecord[];
}

/**
 * Opens a journal directory (owner only: it holds every byte the disks were written with),
 * reads its state and segments, and says how the last run ended: fresh, clean, process crash
 * (same boot), host crash (the boot id changed while it was open) or journal loss (state
 * missing, or a gap in the segments).
 */
export function recoverJournal(opts: {
  dir: string;
  machineId?: string;
  bootId?: string;
  log: (msg: string) => void;
}): RecoveredJournal {
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  chmodSync(opts.dir, 0o700);
  const bootId = opts.bootId ?? currentBootId();
  const stateFile = new JournalStateFile(opts.dir);
  const previous = stateFile.load();
  const state: JournalState = previous ?? {
    v: 1,
    machineId: opts.machineId ?? 'machine',
    bootId,
    open: false,
    releasedLsn: 0,
    disks: [],
  };
  const scan = scanSegments(opts.dir, state.releasedLsn, opts.log);
  let recovery: RecoveryKind;
  if (!previous) recovery = scan.foundAny ? 'journal-lost' : 'fresh';
  else if (scan.lost) recovery = 'journal-lost';
  else if (!previous.open) recovery = 'clean';
  else if (previous.bootId !== bootId) recovery = 'host-crash';
  else recovery = 'process-crash';
  let redo: JournalRecord[] = [];
  if (recovery === 'process-crash') {
    redo = scan.lastChanges;
    // The killed process's image writes are in the page cache only; a disk this process
    // does not serve again would never be synced by it (see DiskSyncs).
    syncDiskFiles(
      state.disks.map((d) => d.path),
      opts.log,
    );
  }
  // A state from before the journal was the write-ahead log: every FLUSH synced the disks
  // then, so a host crash needs no redo of what it holds (the intent log covers the rest).
  state.diskSyncedLsn ??= scan.nextLsn - 1;
  return { state, stateFile, recovery, bootId, scan, redo };
}
