import { peekHeader } from '../core/batch';
import type { Log } from './agentTypes';
import type { ChangeSource } from './changeSource';
import type { Spool } from './spool';

/** A bookmark's envelope for one disk generation, in the spool. */
export interface SpooledCut {
  id: string;
  diskId: string;
  generation: number;
}

/**
 * At start: batches spooled after the source's last checkpoint may be missing from its index (a
 * crash between the two), so the source produces those ranges again; the checkpoint then moves
 * up to what the spool holds. Returns the bookmarks spooled since (the source may hand them out
 * again; group cuts are not to repeat).
 */
export async function redoAfterCheckpoint(
  spool: Spool,
  source: ChangeSource,
  log: Log,
): Promise<SpooledCut[]> {
  const redo = spool.afterCheckpoint();
  const spooledBookmarks: SpooledCut[] = [];
  for (const e of redo) {
    const h = peekHeader(await spool.read(e));
    if (h.bookmark)
      spooledBookmarks.push({ id: h.bookmark.id, diskId: h.diskId, generation: h.generation });
    for (const x of h.extents) source.invalidate(h.diskId, x.offset, x.length);
  }
  const lastSeqs = spool.lastSeqs();
  await source.checkpoint();
  await spool.setCheckpoint(lastSeqs);
  if (redo.length)
    log('recovered spool', {
      batchesAfterCheckpoint: redo.length,
      pending: spool.pending().length,
    });
  return spooledBookmarks;
}
