import type { Consistency } from '../core/batch';

/**
 * The port between "what changed on the disks" and the batcher/spool. Two implementations:
 * the scan source (reads each disk, compares per-block digests with its persistent index)
 * and the write-splitting NBD source (journals every write in order). Both produce one
 * ordered stream of records for all disks of the machine.
 *
 * Ordering contract: a bookmark record means "every change of every disk that happened
 * before the cut precedes this record in the stream; none after it". The agent seals all
 * extents before the bookmark into batches with lower seqs than the bookmark's batch.
 *
 * Durability contract (positions `pos` are increasing per source):
 *  - committed(pos): every record with position ≤ pos is durably spooled, except records the
 *    agent handed back with invalidate(). Sources may then forget them.
 *  - invalidate(diskId, offset, length): those bytes were not taken (spool full) or may be
 *    missing from the source's durable state (spooled after its last checkpoint when the
 *    agent crashed): the source must produce the current content of that range again, and
 *    must not emit a bookmark until it has (the "dirty region" fallback).
 *  - checkpoint(): persist tracking state covering everything committed so far. The spool
 *    keeps batches until a checkpoint covers them, which is what makes invalidate() on
 *    restart complete.
 */
export type ChangeRecord =
  | {
      kind: 'extent';
      pos: number;
      diskId: string;
      offset: number;
      length: number;
      /** The bytes; absent = the range reads as zeroes (sent as a zero range). */
      data?: Buffer;
      /**
       * Called once `data` is no longer needed (sealed into a batch, or handed back): the
       * source may then fill that memory again. Not called for records never taken.
       */
      release?: () => void;
    }
  | {
      kind: 'bookmark';
      pos: number;
      id: string;
      consistency: Consistency;
      groupId?: string;
      barrier?: boolean;
      createdAt: string;
    }
  /** The source caught up (end of a scan pass, journal drained): a good time to checkpoint. */
  | { kind: 'idle'; pos: number };

export interface BookmarkRequest {
  id: string;
  consistency: Consistency;
  groupId?: string;
  /** The source holds writes for this cut (holdWrites): a cross-machine barrier. */
  barrier?: boolean;
}

export interface ChangeSource {
  /** Ordered records until `signal` aborts. */
  changes(signal: AbortSignal): AsyncIterable<ChangeRecord>;
  /**
   * Place a bookmark in the stream at the earliest point where it is true. Resolves when
   * the cut is decided (for app consistency, the agent thaws the application then).
   */
  requestBookmark(req: BookmarkRequest): Promise<void>;
  committed(pos: number): void;
  /**
   * The consumer lost records it was handed and had not committed (its loop failed and starts
   * again): hand them out again. Without it a source must not skip what a dropped stream held.
   */
  rewind?(): Promise<void>;
  /**
   * Stops applying (and so acknowledging) new writes until the returned function is called; a
   * source that does not see writes (the scan) has none. A timed group cut's barrier.
   */
  holdWrites?(): () => void;
  invalidate(diskId: string, offset: number, length: number): void;
  checkpoint(): Promise<void>;
  close(): Promise<void>;
}

/** Disks as the agent knows them (state dir `disks.json`). */
export interface AgentDisk {
  id: string;
  path: string;
  sizeBytes: number;
  sectorSize: number;
  generation: number;
}
