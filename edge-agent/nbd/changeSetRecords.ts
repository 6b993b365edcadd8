import type { ChangeRecord } from '../changeSource';
import type { JournalChangeSet } from './drainTypes';

/** What the journal source counts of the extents it hands out. */
export interface ExtentStats {
  extents: number;
  dataBytes: number;
  zeroBytes: number;
}

/**
 * One coalesced set as change records: its extents, then its bookmark. `mark` is called with the
 * position of the set's last record before that record is handed over: a consumer that takes
 * it commits the set with it, so a rewind never hands a spooled bookmark out again.
 */
export function* changeSetRecords(
  s: JournalChangeSet,
  nextPos: () => number,
  mark: (pos: number) => void,
  stats: ExtentStats,
): Generator<ChangeRecord> {
  const last = s.extents.length - (s.bookmark ? 0 : 1);
  for (const [i, e] of s.extents.entries()) {
    stats.extents++;
    const length = e.kind === 'data' ? e.data.length : e.length;
    if (e.kind === 'data') stats.dataBytes += length;
    else stats.zeroBytes += length;
    const pos = nextPos();
    if (i === last) mark(pos);
    const { offset } = e;
    yield e.kind === 'data'
      ? { kind: 'extent', pos, diskId: s.diskId, offset, length, data: e.data, release: e.release }
      : { kind: 'extent', pos, diskId: s.diskId, offset, length };
  }
  if (s.bookmark) {
    const b = s.bookmark;
    const pos = nextPos();
    mark(pos);
    yield {
      kind: 'bookmark',
      pos,
      id: b.id,
      consistency: b.consistency,
      groupId: b.groupId,
      ...(b.barrier ? { barrier: true } : {}),
      createdAt: b.createdAt,
    };
  }
}
