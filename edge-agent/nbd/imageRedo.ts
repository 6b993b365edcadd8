import type { MachineJournal } from '../journal/journal';
import { readPayload } from '../journal/journalReader';
import type { JournalRecord } from '../journal/journalTypes';
import { RecordType } from '../journal/records';
import type { DiskImage } from './diskImage';

/** Re-applies one journaled change to the image; false for records that change no disk. */
function apply(image: Pick<DiskImage, 'write' | 'zero'>, r: JournalRecord): boolean {
  if (r.type === RecordType.Write) image.write(r.offset, readPayload(r));
  else if (r.type === RecordType.Zero) image.zero(r.offset, r.length);
  else return false;
  return true;
}

/**
 * Brings a served disk's image up to its journal before anything reads it; returns how many
 * records a host-crash redo re-applied.
 *
 * After a process crash the last journaled change may be missing from the image (killed between
 * the two writes); every earlier one is on it: re-applying the disk's last records (the
 * journal's `redo`) makes them equal. After a host crash the disk may lack changes a FLUSH
 * acknowledged (a FLUSH syncs the journal, the disk is synced lazily, rule 3): every record of
 * the disk after the last disk sync is re-applied in order; re-applying a suffix is idempotent.
 * Unflushed writes the journal lost are in intent-log regions, resynced from the disk after this.
 */
export function redoOntoImage(
  journal: MachineJournal,
  diskIndex: number,
  image: Pick<DiskImage, 'write' | 'zero'>,
): number {
  for (const r of journal.redo) if (r.diskIndex === diskIndex) apply(image, r);
  const from = journal.releases.hostCrashRedoFrom();
  if (from === undefined) return 0;
  const reader = journal.reader(from);
  let n = 0;
  try {
    for (let r = reader.next(); r; r = reader.next())
      if (r.diskIndex === diskIndex && apply(image, r)) n++;
  } finally {
    reader.close();
  }
  return n;
}
